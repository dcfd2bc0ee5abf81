"""Synchronous HTTP client of a lab's daemon API (stdlib only), used by the CLI and tests.

http.client rather than urllib.request: urllib honours $http_proxy, and a proxy in the
environment must never swallow calls to a local daemon.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from lab.control import labdir as state
from lab.control.labdir import LabError

REGION = "fr-par"
P = f"/interlink/v1beta1/regions/{REGION}"
VPC_P = f"/vpc/v2/regions/{REGION}"
PAGE_SIZE = 1000
DEFAULT_TIMEOUT = 60.0  # reconciling a big policy edit can take a while

Json = dict[str, Any]


class ApiError(Exception):
    """An HTTP error answer of the daemon; ``str()`` is a one-line human message."""

    def __init__(self, status: int, type: str, message: str, body: Any):
        super().__init__(message)
        self.status, self.type, self.message, self.body = status, type, message, body


def error_message(status: int, body: Any) -> tuple[str, str]:
    """(type, one-line message) from a Scaleway-shaped error body."""
    if not isinstance(body, dict):
        text = str(body).strip().replace("\n", " ")[:200]
        return "http_error", f"HTTP {status}: {text}" if text else f"HTTP {status}"
    kind = str(body.get("type", "http_error"))
    if kind == "invalid_arguments":
        details = "; ".join(
            f"{d.get('argument_name', '?')}: {d.get('help_message') or d.get('reason', '')}"
            for d in body.get("details") or [])
        msg = f"invalid argument(s): {details}" if details else "invalid argument(s)"
    elif kind == "not_found":
        msg = f"{body.get('resource', 'resource')} {body.get('resource_id', '')} not found"
    elif kind == "precondition_failed":
        msg = (f"precondition failed ({body.get('precondition', '?')}): "
               f"{body.get('help_message', '')}")
    elif kind == "denied_authentication":
        msg = "authentication denied: wrong or missing API token"
    else:
        msg = str(body.get("message") or body.get("help_message") or kind)
    return kind, msg.replace("\n", " ").strip()


class Client:
    def __init__(self, url: str, token: str, lab: str = state.DEFAULT_LAB,
                 timeout: float = DEFAULT_TIMEOUT):
        u = urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise LabError(f"unsupported API url {url!r} (expected http://host:port)")
        self.url, self.token, self.lab, self.timeout = url.rstrip("/"), token, lab, timeout
        self._host, self._port = u.hostname, u.port or 80

    @classmethod
    def for_lab(cls, lab: str, timeout: float = DEFAULT_TIMEOUT) -> Client:
        info = state.api_info(lab)
        return cls(info.url, info.token, lab=lab, timeout=timeout)

    # --- raw requests ----------------------------------------------------------------------
    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _not_responding(self, exc: BaseException) -> LabError:
        return LabError(f"controller of lab {self.lab} is not responding ({self.url}: {exc})")

    def _open(self, conn: http.client.HTTPConnection) -> socket.socket | None:
        try:
            conn.connect()
        except (OSError, socket.gaierror) as exc:
            raise self._not_responding(exc) from None
        return conn.sock

    def _send(self, conn: http.client.HTTPConnection, method: str, path: str,
              body: Any = None) -> http.client.HTTPResponse:
        data = None if body is None else json.dumps(body).encode()
        headers = {"X-Auth-Token": self.token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            return conn.getresponse()
        except TimeoutError:
            raise LabError(f"controller of lab {self.lab} did not answer within "
                           f"{conn.timeout:g} s ({method} {path})") from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._not_responding(exc) from None

    @staticmethod
    def _check(resp: http.client.HTTPResponse, raw: bytes) -> Any:
        try:
            body = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        if resp.status >= 400:
            kind, msg = error_message(resp.status, body)
            raise ApiError(resp.status, kind, msg, body)
        return body

    def request(self, method: str, path: str, body: Any = None,
                query: dict[str, Any] | None = None) -> Any:
        """Parsed JSON answer (None for an empty one); raises ApiError / LabError."""
        if query:
            path = f"{path}?{urlencode(query, doseq=True)}"
        conn = self._connect(self.timeout)
        try:
            resp = self._send(conn, method, path, body)
            try:
                raw = resp.read()
            except TimeoutError:
                raise LabError(f"controller of lab {self.lab} did not answer within "
                               f"{self.timeout:g} s ({method} {path})") from None
            return self._check(resp, raw)
        finally:
            conn.close()

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, {} if body is None else body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.request("PATCH", path, {} if body is None else body)

    def delete(self, path: str, body: Any = None) -> Any:
        return self.request("DELETE", path, body)

    def list_all(self, path: str, key: str, query: dict[str, Any] | None = None) -> list[Json]:
        """Every page of a v1beta1-style list."""
        out: list[Json] = []
        page = 1
        while True:
            got = self.get(path, {**(query or {}), "page": page, "page_size": PAGE_SIZE})
            items = got.get(key) or []
            out.extend(items)
            if not items or len(out) >= int(got.get("total_count", 0)):
                return out
            page += 1

    # --- InterLink helpers (region fr-par) ---------------------------------------------------
    def links(self) -> list[Json]:
        return self.list_all(f"{P}/links", "links")

    def link(self, id_or_name: str) -> Json:
        return _resolve(self.links(), id_or_name, "link")

    def default_link(self, id_or_name: str | None) -> Json:
        """The named link, or the only link of the lab when none is named."""
        if id_or_name:
            return self.link(id_or_name)
        links = self.links()
        if len(links) != 1:
            names = ", ".join(lk["name"] for lk in links) or "none"
            raise LabError(f"the lab has {len(links)} links ({names}): name one")
        return links[0]

    def link_stats(self, link_id: str) -> Json:
        result: Json = self.get(f"{P}/links/{link_id}/stats")
        return result

    def link_action(self, link_id: str, action: str, body: Json | None = None) -> Json:
        result: Json = self.post(f"{P}/links/{link_id}/{action}", body or {})
        return result

    def policies(self) -> list[Json]:
        return self.list_all(f"{P}/routing-policies", "routing_policies")

    def policy(self, id_or_name: str) -> Json:
        return _resolve(self.policies(), id_or_name, "routing policy")

    def vpcs(self) -> list[Json]:
        return self.list_all(f"{VPC_P}/vpcs", "vpcs")

    def vpc(self, id_or_name: str) -> Json:
        return _resolve(self.vpcs(), id_or_name, "VPC")

    def private_networks(self) -> list[Json]:
        return self.list_all(f"{VPC_P}/private-networks", "private_networks")

    # --- lab-only API ---------------------------------------------------------------------------
    def events(self, timeout: float | None = None, since: str | None = None,
               follow: bool = True) -> Iterator[Json]:
        """Events of /lab/v1/events as they come; ends after ``timeout`` seconds overall
        (None: never) or when the daemon closes the stream. ``since`` (an event id, 5m, an
        ISO time) starts with the kept events after it; ``follow=False`` ends after them."""
        deadline = None if timeout is None else time.monotonic() + timeout
        query = {**({"since": since} if since is not None else {}),
                 **({} if follow else {"follow": "0"})}
        path = "/lab/v1/events" + (f"?{urlencode(query)}" if query else "")
        conn = self._connect(timeout if timeout is not None else self.timeout)
        try:
            # Our own reference: http.client may drop conn.sock once the headers are read.
            sock = self._open(conn)
            resp = self._send(conn, "GET", path)
            if resp.status >= 400:
                self._check(resp, resp.read())
            if sock is not None:
                # Block as long as needed between events; the deadline is enforced below.
                sock.settimeout(None if deadline is None
                                else max(deadline - time.monotonic(), 0.001))
            while True:
                try:
                    line = resp.readline()
                except TimeoutError:
                    return
                except (ConnectionError, http.client.IncompleteRead):
                    raise LabError(f"controller of lab {self.lab} closed the event "
                                   "stream") from None
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    if sock is not None:
                        sock.settimeout(left)
        finally:
            conn.close()


def _resolve(items: list[Json], id_or_name: str, what: str) -> Json:
    """By id, then by unique name (names are not unique in Scaleway), then by id prefix."""
    for it in items:
        if it.get("id") == id_or_name:
            return it
    named = [it for it in items if it.get("name") == id_or_name]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(str(it["id"]) for it in named)
        raise LabError(f"several {what}s are named {id_or_name!r} ({ids}): use the id")
    # The short ids that tables print (8 characters) work too when unique.
    if len(id_or_name) >= 4:
        by_prefix = [it for it in items if str(it.get("id", "")).startswith(id_or_name)]
        if len(by_prefix) == 1:
            return by_prefix[0]
    known = ", ".join(sorted(str(it.get("name")) for it in items)) or "none"
    raise LabError(f"no {what} {id_or_name!r} (known: {known})")
