"""The InterLink catalog: PoPs, partners and dedicated connections (read-only in the API).

Seeded from ``controller/catalog.yaml`` (package data) or the file named by ``$ILAB_CATALOG``.
The file is validated strictly when loaded: a typo in a hand-edited catalog must fail at
start-up with the file and the entry named, not as a strange API answer later.

List items carry hidden facets (keys starting with ``_``) that the list filters need but that
are not part of the API JSON (which partners are at a PoP, ...); ``controller.core.listing`` strips
them before answering.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from controller.core.model import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_PROJECT_ID,
    REGIONS,
    VLAN_MAX,
    VLAN_MIN,
    NotFound,
)

CATALOG_ENV = "ILAB_CATALOG"
CONNECTION_STATUSES = ("unknown_status", "created", "configuring", "failed", "active",
                       "disabled", "deleted", "locked")
CATALOG_TIME = "2024-01-01T00:00:00.000000Z"  # created_at/updated_at when the file has none

Json = dict[str, Any]


class CatalogError(ValueError):
    """The catalog file is not valid; the message names the file and the entry."""


@dataclass(frozen=True)
class Pop:
    id: str
    name: str
    hosting_provider_name: str
    address: str
    city: str
    available_link_bandwidths_mbps: tuple[int, ...]
    display_name: str = ""
    logo_url: str = ""
    region: str = "fr-par"

    def to_api(self) -> Json:
        return {
            "address": self.address,
            "available_link_bandwidths_mbps": list(self.available_link_bandwidths_mbps),
            "city": self.city, "display_name": self.display_name or self.name,
            "hosting_provider_name": self.hosting_provider_name, "id": self.id,
            "logo_url": self.logo_url, "name": self.name, "region": self.region,
        }


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    contact_email: str
    pop_ids: tuple[str, ...]  # where it owns a shared port (not in the API JSON)
    l3_connectivity: bool = False
    logo_url: str = ""
    portal_url: str = ""
    region: str = "fr-par"
    created_at: str = CATALOG_TIME
    updated_at: str = CATALOG_TIME

    def to_api(self) -> Json:
        return {
            "contact_email": self.contact_email, "created_at": self.created_at,
            "id": self.id, "l3_connectivity": self.l3_connectivity,
            "logo_url": self.logo_url, "name": self.name, "portal_url": self.portal_url,
            "region": self.region, "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class DedicatedConnection:
    id: str
    name: str
    pop_id: str
    bandwidth_mbps: int
    available_link_bandwidths: tuple[int, ...]
    vlan_start: int
    vlan_end: int
    status: str = "active"
    demarcation_info: str = ""
    tags: tuple[str, ...] = ()
    project_id: str = DEFAULT_PROJECT_ID
    organization_id: str = DEFAULT_ORGANIZATION_ID
    region: str = "fr-par"
    created_at: str = CATALOG_TIME
    updated_at: str = CATALOG_TIME

    def to_api(self) -> Json:
        return {
            "available_link_bandwidths": list(self.available_link_bandwidths),
            "bandwidth_mbps": self.bandwidth_mbps, "created_at": self.created_at,
            "demarcation_info": self.demarcation_info, "id": self.id, "name": self.name,
            "organization_id": self.organization_id, "pop_id": self.pop_id,
            "project_id": self.project_id, "region": self.region, "status": self.status,
            "tags": list(self.tags), "updated_at": self.updated_at,
            "vlan_range": {"end": self.vlan_end, "start": self.vlan_start},
        }


@dataclass(frozen=True)
class Catalog:
    pops: dict[str, Pop] = field(default_factory=dict)
    partners: dict[str, Partner] = field(default_factory=dict)
    connections: dict[str, DedicatedConnection] = field(default_factory=dict)

    # --- lookups (NotFound also for an object of another region: it is not visible there) --
    def pop(self, pop_id: str, region: str | None = None) -> Pop:
        pop = self.pops.get(pop_id)
        if pop is None or (region is not None and pop.region != region):
            raise NotFound("pop", pop_id)
        return pop

    def partner(self, partner_id: str, region: str | None = None) -> Partner:
        partner = self.partners.get(partner_id)
        if partner is None or (region is not None and partner.region != region):
            raise NotFound("partner", partner_id)
        return partner

    def connection(self, connection_id: str, region: str | None = None) -> DedicatedConnection:
        conn = self.connections.get(connection_id)
        if conn is None or (region is not None and conn.region != region):
            raise NotFound("dedicated_connection", connection_id)
        return conn

    # --- API JSON (list items carry hidden "_" facets for the filters) -------------------
    def list_pops(self) -> list[Json]:
        out = []
        for pop in self.pops.values():
            partners = [p for p in self.partners.values() if pop.id in p.pop_ids]
            out.append({
                **pop.to_api(),
                "_partner_ids": [p.id for p in partners],
                "_l3_partners": any(p.l3_connectivity for p in partners),
                "_dedicated_available": any(c.pop_id == pop.id and c.status == "active"
                                            for c in self.connections.values()),
            })
        return out

    def list_partners(self) -> list[Json]:
        return [{**p.to_api(), "_pop_ids": list(p.pop_ids)} for p in self.partners.values()]

    def list_connections(self) -> list[Json]:
        return [c.to_api() for c in self.connections.values()]


# --- loading -------------------------------------------------------------------------------
def default_path() -> Path | None:
    """``$ILAB_CATALOG`` if set, else None (the packaged catalog.yaml)."""
    env = os.environ.get(CATALOG_ENV)
    return Path(env) if env else None


def load(path: str | Path | None = None) -> Catalog:
    """The catalog of ``path``, else of ``$ILAB_CATALOG``, else the packaged one."""
    path = Path(path) if path is not None else default_path()
    if path is None:
        text = resources.files("controller.core").joinpath("catalog.yaml").read_text()
        where = "controller/catalog.yaml"
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from None
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{where}: invalid YAML: {exc}") from None
    return parse(data, where)


class _Entry:
    """Typed access to one mapping of the file; every error names file, section and entry."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise CatalogError(f"{where}: must be a mapping")
        self.data, self.where = data, where
        self.used: set[str] = set()

    def fail(self, msg: str) -> CatalogError:
        return CatalogError(f"{self.where}: {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(f"{key} is required")
            return default
        value = self.data[key]
        # bool is an int in Python: never accept one for the other.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{key} has the wrong type ({type(value).__name__})")
        return value

    def uuid(self, key: str) -> str:
        text = self.get(key, str)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise self.fail(f"{key} {text!r} is not a UUID") from None

    def ints(self, key: str) -> tuple[int, ...]:
        values = self.get(key, list)
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                 for v in values):
            raise self.fail(f"{key} must be a non-empty list of positive integers (Mbps)")
        return tuple(sorted(set(values)))

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(f"{key} must be a list of strings")
        return tuple(values)

    def region(self) -> str:
        region = self.get("region", str, "fr-par")
        if region not in REGIONS:
            raise self.fail(f"region {region!r} is not one of {', '.join(REGIONS)}")
        return region

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(f"unknown field(s) {', '.join(unknown)}")


def _section(data: dict[str, Any], key: str, where: str) -> list[Any]:
    items = data.get(key) or []
    if not isinstance(items, list):
        raise CatalogError(f"{where}: {key} must be a list")
    return items


def parse(data: Any, where: str = "catalog") -> Catalog:
    if data is None:
        data = {}
    top = _Entry(data, where)
    pops: dict[str, Pop] = {}
    partners: dict[str, Partner] = {}
    conns: dict[str, DedicatedConnection] = {}
    seen: set[str] = set()

    def unique(e: _Entry) -> str:
        obj_id = e.uuid("id")
        if obj_id in seen:
            raise e.fail(f"duplicate id {obj_id}")
        seen.add(obj_id)
        return obj_id

    for i, raw in enumerate(_section(data, "pops", where)):
        e = _Entry(raw, f"{where}: pops[{i}]")
        pop = Pop(id=unique(e), name=e.get("name", str),
                  hosting_provider_name=e.get("hosting_provider_name", str),
                  address=e.get("address", str), city=e.get("city", str),
                  available_link_bandwidths_mbps=e.ints("available_link_bandwidths_mbps"),
                  display_name=e.get("display_name", str, ""),
                  logo_url=e.get("logo_url", str, ""), region=e.region())
        e.done()
        pops[pop.id] = pop
    for i, raw in enumerate(_section(data, "partners", where)):
        e = _Entry(raw, f"{where}: partners[{i}]")
        partner = Partner(
            id=unique(e), name=e.get("name", str), contact_email=e.get("contact_email", str),
            pop_ids=e.strings("pop_ids"), l3_connectivity=e.get("l3_connectivity", bool, False),
            logo_url=e.get("logo_url", str, ""), portal_url=e.get("portal_url", str, ""),
            region=e.region(), created_at=e.get("created_at", str, CATALOG_TIME),
            updated_at=e.get("updated_at", str, CATALOG_TIME))
        e.done()
        for pid in partner.pop_ids:
            if pid not in pops or pops[pid].region != partner.region:
                raise e.fail(f"pop_ids: no PoP {pid} in region {partner.region}")
        partners[partner.id] = partner
    for i, raw in enumerate(_section(data, "dedicated_connections", where)):
        e = _Entry(raw, f"{where}: dedicated_connections[{i}]")
        rng = _Entry(e.get("vlan_range", dict), f"{e.where}: vlan_range")
        start, end = rng.get("start", int), rng.get("end", int)
        rng.done()
        if not VLAN_MIN <= start <= end <= VLAN_MAX:
            raise e.fail(f"vlan_range must be within {VLAN_MIN}..{VLAN_MAX}, start <= end")
        status = e.get("status", str, "active")
        if status not in CONNECTION_STATUSES:
            raise e.fail(f"status {status!r} is not one of {', '.join(CONNECTION_STATUSES)}")
        conn = DedicatedConnection(
            id=unique(e), name=e.get("name", str), pop_id=e.uuid("pop_id"),
            bandwidth_mbps=e.get("bandwidth_mbps", int),
            available_link_bandwidths=e.ints("available_link_bandwidths"),
            vlan_start=start, vlan_end=end, status=status,
            demarcation_info=e.get("demarcation_info", str, ""), tags=e.strings("tags"),
            project_id=e.get("project_id", str, DEFAULT_PROJECT_ID),
            organization_id=e.get("organization_id", str, DEFAULT_ORGANIZATION_ID),
            region=e.region(), created_at=e.get("created_at", str, CATALOG_TIME),
            updated_at=e.get("updated_at", str, CATALOG_TIME))
        e.done()
        if conn.pop_id not in pops or pops[conn.pop_id].region != conn.region:
            raise e.fail(f"pop_id: no PoP {conn.pop_id} in region {conn.region}")
        if max(conn.available_link_bandwidths) > conn.bandwidth_mbps:
            raise e.fail("available_link_bandwidths exceed the connection's bandwidth_mbps")
        conns[conn.id] = conn
    top.used |= {"pops", "partners", "dedicated_connections"}
    top.done()
    return Catalog(pops=pops, partners=partners, connections=conns)
