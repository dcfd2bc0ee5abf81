"""The topology page (HTML + its scripts), live or self-contained.

The drawing is cytoscape.js with the cytoscape-dagre layout, installed by npm into
``lab/daemon/web/node_modules`` (``make setup``, versions pinned by ``package-lock.json``) and
served by the controller, so the page needs no internet. ``live_page`` loads them from
``/lab/graph/<asset>`` and follows the lab; ``static_page`` inlines them and a model (the file
``interlink-lab graph --format html`` writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEB_DIR = Path(__file__).with_name("web")
PAGE_PATH = "/lab/graph"
# Served name -> file under WEB_DIR, in the order the page loads them.
SCRIPTS = {
    "cytoscape.min.js": "node_modules/cytoscape/dist/cytoscape.min.js",
    "cytoscape-dagre.min.js": "node_modules/cytoscape-dagre/dist/cytoscape-dagre.min.js",
    "graph.js": "graph.js",
}
STYLESHEET = "graph.css"
ASSETS = {**SCRIPTS, STYLESHEET: STYLESHEET}
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}
# The live page loads nothing but its own scripts and talks only to its controller.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class AssetsMissing(RuntimeError):
    """The page's libraries are not installed (npm)."""


def asset(name: str) -> bytes:
    """An asset's bytes (KeyError: no such asset; AssetsMissing: not installed)."""
    path = WEB_DIR / ASSETS[name]
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise AssetsMissing(
            f"the topology page's libraries are not installed ({path} is missing): "
            f"`make setup` runs `npm ci` in {WEB_DIR}") from None


def _page(title: str, head: str, body: str, stream: tuple[str, str]) -> str:
    template = (WEB_DIR / "graph.html").read_text()
    for key, value in (("__TITLE__", _html(title)), ("__HEAD__", head), ("__BODY__", body),
                       ("__STREAM_STATE__", stream[0]), ("__STREAM_TEXT__", stream[1])):
        template = template.replace(key, value)
    return template


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def live_page(lab: str) -> str:
    for name in SCRIPTS:  # a clear error now rather than a blank page
        asset(name)
    head = f'<link rel="stylesheet" href="{PAGE_PATH}/{STYLESHEET}">'
    body = "\n".join(f'<script src="{PAGE_PATH}/{name}"></script>' for name in SCRIPTS)
    return _page(f"lab {lab}", head, body, ("connecting", "connecting"))


def _inline_script(text: str) -> str:
    # "</script" would end the element early; "<\/" means the same in JavaScript strings.
    return "<script>" + text.replace("</script", "<\\/script") + "</script>"


def static_page(model: dict[str, Any]) -> str:
    """One file: the libraries, the page's code and ``model`` (lab.scenario.graph.to_json)."""
    head = "<style>" + asset(STYLESHEET).decode() + "</style>"
    data = json.dumps(model, sort_keys=True).replace("</", "<\\/")
    scripts = [_inline_script(asset(name).decode()) for name in SCRIPTS]
    scripts.insert(-1, _inline_script(f"window.ILAB_GRAPH = {data};"))
    stream = ("snapshot", "snapshot" + ("" if model.get("live") else " (no status)"))
    return _page(f"lab {model.get('lab')}", head, "\n".join(scripts), stream)
