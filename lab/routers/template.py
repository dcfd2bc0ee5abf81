"""A customer's own router configuration, rendered from its Jinja2 template (pure).

A scenario's ``customer: {router: frr|bird, config: FILE}`` names a configuration the user
wrote; the placeholders fill in what only the lab knows (peering addresses, VLAN, interface
names, the link's id). Undefined placeholders are errors (StrictUndefined), reported as one
line ``FILE:LINE: message`` naming the placeholder. Block tags alone on their line leave no
blank line (``trim_blocks``, ``lstrip_blocks``). The variables:

- ``asn``, ``scw_asn`` (12876), ``customer`` (``name``, ``asn``, ``lan_ipv4``, ``lan_ipv6``);
- ``link``: the customer's first link, ``links``: all of them, in scenario order. A link has
  ``name``, ``id`` (its API id; empty before the controller created it), ``vlan``,
  ``interface`` (the customer's VLAN sub-interface, e.g. ``il0.2451``),
  ``peer_ipv4``/``peer_ipv6`` (Scaleway's addresses: the BGP neighbor to configure),
  ``scw_ipv4``/``scw_ipv6`` (the same addresses, as the API's ``scw_bgp_config`` names them),
  ``customer_ipv4``/``customer_ipv6`` (the customer's own peering addresses, the local
  address), ``md5_password`` (the customer side's TCP-MD5 password, empty if none),
  ``scw_asn`` and ``asn`` (the customer's). A family the link has no peering for is ``""``.
- ``prefixes``: what the scenario's ``announce`` lists, as ``prefixes.ipv4``,
  ``prefixes.ipv6`` and ``prefixes.all`` (lists of prefix strings; iterating ``prefixes``
  gives ``all``); ``announce``: the same entries with ``prefix``, ``family``, ``communities``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jinja2

from controller.core.model import SCW_ASN
from lab.scenario.topology import CustomerWiring

TOP_LEVEL = ("asn", "scw_asn", "customer", "link", "links", "prefixes", "announce")


class TemplateError(ValueError):
    """The template cannot be rendered; ``str()`` is one line ``FILE:LINE: message``."""


class Vars:
    """A namespace of template variables: ``{{ link.vlan }}``; an unknown attribute is an
    error naming it (``link.vlna``) and listing the known ones."""

    def __init__(self, label: str, values: Mapping[str, Any],
                 iterate: str | None = None) -> None:
        self._label, self._values, self._iterate = label, dict(values), iterate
        for k, v in values.items():
            setattr(self, k, v)

    @property
    def known(self) -> list[str]:
        return list(self._values)

    def __iter__(self) -> Iterator[Any]:
        if self._iterate is None:
            raise TypeError(f"{self._label} is not a list")
        return iter(self._values[self._iterate])

    def __repr__(self) -> str:
        return f"{self._label}({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


class _Strict(jinja2.StrictUndefined):
    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if isinstance(obj, Vars):
            return (f"unknown placeholder {obj._label}.{name} (a {obj._label} has: "
                    f"{', '.join(obj.known)})")
        if obj is jinja2.utils.missing and name is not None:
            return f"unknown placeholder {name!r} (known: {', '.join(TOP_LEVEL)})"
        return str(super()._undefined_message)


class _OneFile(jinja2.BaseLoader):
    """The template, named by its path (tracebacks then carry the template's line)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str, Any]:
        return self.text, template, lambda: True


def link_vars(customer: CustomerWiring, link_ids: Mapping[str, str] | None = None
              ) -> list[Vars]:
    """One ``Vars`` per link of the customer (its sessions grouped by link, in order)."""
    ids = link_ids or {}
    by_link: dict[str, dict[str, Any]] = {}
    for s in customer.sessions:
        v = by_link.setdefault(s.link, {
            "name": s.link, "id": ids.get(s.link, ""), "vlan": s.vlan, "interface": s.ifname,
            "peer_ipv4": "", "peer_ipv6": "", "scw_ipv4": "", "scw_ipv6": "",
            "customer_ipv4": "", "customer_ipv6": "",
            "md5_password": customer.md5_password or "", "scw_asn": SCW_ASN,
            "asn": customer.asn})
        v[f"peer_{s.family}"] = v[f"scw_{s.family}"] = s.peer_address
        v[f"customer_{s.family}"] = s.local_address
    return [Vars("link", v) for v in by_link.values()]


def template_vars(customer: CustomerWiring, link_ids: Mapping[str, str] | None = None
                  ) -> dict[str, Any]:
    links = link_vars(customer, link_ids)
    v4 = [a.prefix for a in customer.announce if ":" not in a.prefix]
    v6 = [a.prefix for a in customer.announce if ":" in a.prefix]
    return {
        "asn": customer.asn, "scw_asn": SCW_ASN,
        "customer": Vars("customer", {"name": customer.name, "asn": customer.asn,
                                      "lan_ipv4": customer.lan_v4 or "",
                                      "lan_ipv6": customer.lan_v6 or ""}),
        "link": links[0] if links else Vars("link", {}),
        "links": links,
        "prefixes": Vars("prefixes", {"ipv4": v4, "ipv6": v6, "all": v4 + v6},
                         iterate="all"),
        "announce": [Vars("announce", {"prefix": a.prefix,
                                       "family": "ipv6" if ":" in a.prefix else "ipv4",
                                       "communities": list(a.communities)})
                     for a in customer.announce],
    }


def _template_line(exc: BaseException, source: str) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    tb, line = exc.__traceback__, None
    while tb is not None:  # Jinja rewrites its frames to the template's file and line
        if tb.tb_frame.f_code.co_filename == source:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render(text: str, source: str, variables: Mapping[str, Any]) -> str:
    """``text`` (the template read from ``source``) rendered; TemplateError otherwise."""
    # trim_blocks/lstrip_blocks: a line holding only {% for %} or {% if %} leaves no blank
    # line (as Ansible and Salt render configuration templates)
    env = jinja2.Environment(loader=_OneFile(text), undefined=_Strict,
                             keep_trailing_newline=True, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True)
    try:
        return env.get_template(source).render(**variables)
    except jinja2.TemplateError as exc:
        line = _template_line(exc, source)
        where = f"{source}:{line}" if line else source
        msg = " ".join(str(exc.message or exc).split())
        raise TemplateError(f"{where}: {msg}") from None
    except (TypeError, ValueError, AttributeError) as exc:  # e.g. iterating a non-list
        line = _template_line(exc, source)
        where = f"{source}:{line}" if line else source
        raise TemplateError(f"{where}: {' '.join(str(exc).split())}") from None


def render_customer(text: str, source: str, customer: CustomerWiring,
                    link_ids: Mapping[str, str] | None = None) -> str:
    """The customer's configuration from its template."""
    return render(text, source, template_vars(customer, link_ids))
