"""InterLink resources (pure): links, routing policies, VPCs, and their v1beta1 JSON shapes.

Objects are plain dataclasses mutated only by the controller service under its lock; every
mutation goes through ``validate_*`` first so that a rejected request changes nothing.
JSON follows Scaleway's API: sorted keys, unset optional fields omitted (not null),
RFC 3339 timestamps with microseconds and ``Z``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

from controller.core.limits import MAX_POLICY_ENTRIES
from controller.core.prefixes import PrefixError, canonical_prefix

SCW_ASN = 12876
REGIONS = ("fr-par", "nl-ams", "pl-waw")
DEFAULT_REGION = "fr-par"
VLAN_MIN, VLAN_MAX = 1500, 3899
DEFAULT_ORGANIZATION_ID = "11111111-1111-4111-8111-111111111111"
DEFAULT_PROJECT_ID = DEFAULT_ORGANIZATION_ID


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return str(uuid.uuid4())


class ArgumentError(ValueError):
    """400 invalid_arguments: ``details`` is a list of {argument_name, reason, help_message}."""

    def __init__(self, details: list[dict[str, str]]):
        super().__init__("; ".join(f"{d['argument_name']}: {d['help_message']}" for d in details))
        self.details = details

    @classmethod
    def one(cls, name: str, reason: str, help_message: str) -> ArgumentError:
        return cls([{"argument_name": name, "reason": reason, "help_message": help_message}])


class NotFound(LookupError):
    """404 not_found."""

    def __init__(self, resource: str, resource_id: str):
        super().__init__(f"{resource} {resource_id} not found")
        self.resource, self.resource_id = resource, resource_id


class PreconditionFailed(RuntimeError):
    """412 precondition_failed."""

    def __init__(self, precondition: str, help_message: str):
        super().__init__(help_message)
        self.precondition, self.help_message = precondition, help_message


class TransientState(RuntimeError):
    """409 transient_state: the resource is changing (``configuring``, ``deprovisioning``)."""

    def __init__(self, resource: str, resource_id: str, current_state: str):
        super().__init__(f"{resource} {resource_id} is {current_state}; retry later")
        self.resource, self.resource_id, self.current_state = (
            resource, resource_id, current_state)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(d.items()) if v is not None}



def as_record(obj: Any) -> Any:
    """``dataclasses.asdict`` for these models, ~10x faster on long prefix lists: asdict
    deep-copies every string, which costs ~20 ms on the event loop for a maximal policy."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_record(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, list | tuple):
        return type(obj)(x if type(x) is str else as_record(x) for x in obj)
    if isinstance(obj, dict):
        return {k: as_record(v) for k, v in obj.items()}
    return obj

@dataclass
class RoutingPolicy:
    id: str
    name: str
    is_ipv6: bool
    prefix_filter_in: list[str]
    prefix_filter_out: list[str]
    region: str = DEFAULT_REGION
    project_id: str = DEFAULT_PROJECT_ID
    organization_id: str = DEFAULT_ORGANIZATION_ID
    tags: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)

    @property
    def family(self) -> str:
        return "ipv6" if self.is_ipv6 else "ipv4"

    def to_api(self) -> dict[str, Any]:
        return _drop_none(as_record(self))


class CheckedPrefixes(list[str]):
    """A list ``validate_prefix_list`` already returned for one family: checking it again is
    free, so the slow part (parsing thousands of prefixes) can run off the event loop first."""

    def __init__(self, items: list[str], ipv6: bool):
        super().__init__(items)
        self.ipv6 = ipv6


def validate_prefix_list(name: str, value: Any, *, ipv6: bool) -> list[str]:
    """Strictly validated, canonical list; every bad entry reported at once."""
    if isinstance(value, CheckedPrefixes) and value.ipv6 == ipv6:
        return list(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArgumentError.one(name, "format", "must be a list of CIDR prefixes")
    if len(value) > MAX_POLICY_ENTRIES:
        raise ArgumentError.one(name, "constraint", f"{len(value)} prefixes: at most "
                                f"{MAX_POLICY_ENTRIES} per list")
    out, details = [], []
    for i, text in enumerate(value):
        try:
            out.append(canonical_prefix(text, ipv6=ipv6))
        except PrefixError as exc:
            details.append({"argument_name": f"{name}.{i}", "reason": "constraint",
                            "help_message": str(exc)})
    if details:
        raise ArgumentError(details)
    return list(dict.fromkeys(out))  # de-duplicated, order kept


@dataclass
class BgpConfig:
    asn: int
    ipv4: str  # with prefix length, e.g. 169.254.0.16/31
    ipv6: str

    def address(self, family: str) -> str:
        return (self.ipv4 if family == "ipv4" else self.ipv6).split("/")[0]

    def to_api(self) -> dict[str, Any]:
        return {"asn": self.asn, "ipv4": self.ipv4, "ipv6": self.ipv6}


@dataclass
class PartnerRef:
    partner_id: str
    pairing_key: str
    disapproved_reason: str = ""
    l3_connectivity: bool = False

    def to_api(self) -> dict[str, Any]:
        return {"disapproved_reason": self.disapproved_reason,
                "l3_connectivity": self.l3_connectivity, "pairing_key": self.pairing_key,
                "partner_id": self.partner_id}


# Link lifecycles (``Link.lifecycle``). ``provisioned``: the status derives from the sessions.
HOSTED_START, SELF_HOSTED_START = "requested", "ready"
TRANSIENT_LIFECYCLES = frozenset({"configuring", "deprovisioning"})


@dataclass
class Link:
    id: str
    name: str
    pop_id: str
    bandwidth_mbps: int
    vlan: int
    scw_bgp_config: BgpConfig
    peer_bgp_config: BgpConfig
    # Stored lifecycle; "provisioned" means the status is derived from the sessions.
    lifecycle: str = "provisioned"
    partner: PartnerRef | None = None
    connection_id: str | None = None
    vpc_id: str | None = None
    routing_policy_v4_id: str | None = None
    routing_policy_v6_id: str | None = None
    enable_route_propagation: bool = False
    region: str = DEFAULT_REGION
    project_id: str = DEFAULT_PROJECT_ID
    organization_id: str = DEFAULT_ORGANIZATION_ID
    tags: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    # Lab-only knobs (not in the API JSON).
    hold_time: int = 9
    md5_password: str | None = None

    def policy_id(self, family: str) -> str | None:
        return self.routing_policy_v6_id if family == "ipv6" else self.routing_policy_v4_id

    def set_policy_id(self, family: str, policy_id: str | None) -> None:
        if family == "ipv6":
            self.routing_policy_v6_id = policy_id
        else:
            self.routing_policy_v4_id = policy_id

    def to_api(self, status: str, bgp_v4_status: str, bgp_v6_status: str) -> dict[str, Any]:
        """The v1beta1 Link. Built by hand, not with ``asdict``: a list of 100 links
        through asdict's deep copies held the event loop ~30 ms on every poll."""
        d: dict[str, Any] = {
            "id": self.id, "name": self.name, "pop_id": self.pop_id,
            "bandwidth_mbps": self.bandwidth_mbps, "vlan": self.vlan,
            "scw_bgp_config": self.scw_bgp_config.to_api(),
            "peer_bgp_config": self.peer_bgp_config.to_api(),
            "status": status, "bgp_v4_status": bgp_v4_status, "bgp_v6_status": bgp_v6_status,
            "vpc_id": self.vpc_id,
            "routing_policy_v4_id": self.routing_policy_v4_id,
            "routing_policy_v6_id": self.routing_policy_v6_id,
            "enable_route_propagation": self.enable_route_propagation,
            "region": self.region, "project_id": self.project_id,
            "organization_id": self.organization_id, "tags": list(self.tags),
            "created_at": self.created_at, "updated_at": self.updated_at,
        }
        if self.partner is not None:
            d["partner"] = self.partner.to_api()
        if self.connection_id is not None:
            d["self"] = {"connection_id": self.connection_id}
        return _drop_none(d)


def _subnet_id(pn_id: str, subnet: str) -> str:
    # Stable per (private network, subnet): the SDK wants an id, the lab stores none.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"interlink-lab:{pn_id}/{subnet}"))


@dataclass
class PrivateNetwork:
    id: str
    name: str
    subnets: list[str]
    vpc_id: str
    region: str = DEFAULT_REGION
    project_id: str = DEFAULT_PROJECT_ID
    organization_id: str = DEFAULT_ORGANIZATION_ID
    tags: list[str] = field(default_factory=list)
    default_route_propagation_enabled: bool = False
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)

    def to_api(self) -> dict[str, Any]:
        """VPC v2 PrivateNetwork (every field ``unmarshal_PrivateNetwork`` reads)."""
        subnets = [dict(sorted({
            "id": _subnet_id(self.id, s), "subnet": s, "created_at": self.created_at,
            "updated_at": self.updated_at, "project_id": self.project_id,
            "private_network_id": self.id, "vpc_id": self.vpc_id, "region": self.region,
        }.items())) for s in self.subnets]
        return _drop_none({
            "id": self.id, "name": self.name, "vpc_id": self.vpc_id, "region": self.region,
            "project_id": self.project_id, "organization_id": self.organization_id,
            "tags": list(self.tags), "subnets": subnets, "dhcp_enabled": True,
            "default_route_propagation_enabled": self.default_route_propagation_enabled,
            "has_object_storage_private_access": False,
            "created_at": self.created_at, "updated_at": self.updated_at,
        })


@dataclass
class Vpc:
    id: str
    name: str
    region: str = DEFAULT_REGION
    project_id: str = DEFAULT_PROJECT_ID
    organization_id: str = DEFAULT_ORGANIZATION_ID
    tags: list[str] = field(default_factory=list)
    private_networks: list[PrivateNetwork] = field(default_factory=list)
    routing_enabled: bool = True
    transitivity_enabled: bool = False
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)

    def subnets(self) -> list[str]:
        return [s for pn in self.private_networks for s in pn.subnets]

    def to_api(self) -> dict[str, Any]:
        """VPC v2 VPC (every field ``unmarshal_VPC`` reads)."""
        return _drop_none({
            "id": self.id, "name": self.name, "region": self.region,
            "project_id": self.project_id, "organization_id": self.organization_id,
            "tags": list(self.tags), "is_default": False,
            "routing_enabled": self.routing_enabled,
            "transitivity_enabled": self.transitivity_enabled,
            "object_storage_private_access_enabled": False,
            "private_network_count": len(self.private_networks),
            "custom_routes_propagation_enabled": True,
            "created_at": self.created_at, "updated_at": self.updated_at,
        })


def link_from_dict(d: dict[str, Any]) -> Link:
    d = dict(d)
    d["scw_bgp_config"] = BgpConfig(**d["scw_bgp_config"])
    d["peer_bgp_config"] = BgpConfig(**d["peer_bgp_config"])
    if d.get("partner") is not None:
        d["partner"] = PartnerRef(**d["partner"])
    return Link(**d)


def vpc_from_dict(d: dict[str, Any]) -> Vpc:
    d = dict(d)
    d["private_networks"] = [PrivateNetwork(**pn) for pn in d.get("private_networks", [])]
    return Vpc(**d)


def policy_from_dict(d: dict[str, Any]) -> RoutingPolicy:
    return RoutingPolicy(**d)
