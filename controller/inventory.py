"""The set of InterLink resources and the rules of every operation on them (pure).

Each operation validates everything first and mutates only when it cannot fail, so a rejected
request changes nothing. I/O (persistence, BGP, kernel) is the caller's business: it reads
``changed`` to know what to persist and reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.model import (
    ArgumentError,
    Link,
    NotFound,
    PreconditionFailed,
    RoutingPolicy,
    Vpc,
    new_id,
    now,
    validate_prefix_list,
)

POLICY_WRITABLE = {"name", "tags", "prefix_filter_in", "prefix_filter_out"}
POLICY_CREATE = POLICY_WRITABLE | {"is_ipv6", "project_id", "region"}
LINK_WRITABLE = {"name", "tags", "peer_asn"}


def _check_keys(body: dict[str, Any], allowed: set[str]) -> None:
    # Unknown fields are rejected: a typo must not silently do nothing.
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ArgumentError([{"argument_name": k, "reason": "unknown",
                              "help_message": "unknown field"} for k in unknown])


def _name(body: dict[str, Any], default: str | None = None) -> str:
    name = body.get("name", default)
    if not isinstance(name, str) or not name or len(name) > 255:
        raise ArgumentError.one("name", "constraint", "must be a non-empty string (<= 255)")
    return name


def _tags(body: dict[str, Any], default: list[str]) -> list[str]:
    tags = body.get("tags", default)
    if tags is None:
        return list(default)
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ArgumentError.one("tags", "format", "must be a list of strings")
    return list(tags)


def _asn(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4294967294:
        raise ArgumentError.one("peer_asn", "constraint", "must be an ASN in 1..4294967294")
    if value == 12876:
        raise ArgumentError.one("peer_asn", "constraint", "12876 is Scaleway's own ASN")
    return value


@dataclass
class Inventory:
    links: dict[str, Link] = field(default_factory=dict)
    policies: dict[str, RoutingPolicy] = field(default_factory=dict)
    vpcs: dict[str, Vpc] = field(default_factory=dict)

    # --- lookups -------------------------------------------------------------------------
    def link(self, link_id: str) -> Link:
        try:
            return self.links[link_id]
        except KeyError:
            raise NotFound("link", link_id) from None

    def policy(self, policy_id: str) -> RoutingPolicy:
        try:
            return self.policies[policy_id]
        except KeyError:
            raise NotFound("routing_policy", policy_id) from None

    def vpc(self, vpc_id: str) -> Vpc:
        try:
            return self.vpcs[vpc_id]
        except KeyError:
            raise NotFound("vpc", vpc_id) from None

    def links_using_policy(self, policy_id: str) -> list[Link]:
        return [lk for lk in self.links.values()
                if policy_id in (lk.routing_policy_v4_id, lk.routing_policy_v6_id)]

    def links_on_vpc(self, vpc_id: str) -> list[Link]:
        return [lk for lk in self.links.values() if lk.vpc_id == vpc_id]

    # --- routing policies ------------------------------------------------------------------
    def create_policy(self, body: dict[str, Any], region: str) -> RoutingPolicy:
        _check_keys(body, POLICY_CREATE)
        is_ipv6 = body.get("is_ipv6", False)
        if not isinstance(is_ipv6, bool):
            raise ArgumentError.one("is_ipv6", "format", "must be a boolean")
        policy = RoutingPolicy(
            id=new_id(), name=_name(body), is_ipv6=is_ipv6, region=region,
            prefix_filter_in=validate_prefix_list(
                "prefix_filter_in", body.get("prefix_filter_in", []), ipv6=is_ipv6),
            prefix_filter_out=validate_prefix_list(
                "prefix_filter_out", body.get("prefix_filter_out", []), ipv6=is_ipv6),
            tags=_tags(body, []),
        )
        if "project_id" in body:
            policy.project_id = str(body["project_id"])
        self.policies[policy.id] = policy
        return policy

    def update_policy(self, policy_id: str, body: dict[str, Any]) -> RoutingPolicy:
        policy = self.policy(policy_id)
        _check_keys(body, POLICY_WRITABLE)
        name = _name(body, policy.name)
        tags = _tags(body, policy.tags)
        f_in, f_out = policy.prefix_filter_in, policy.prefix_filter_out
        if body.get("prefix_filter_in") is not None:  # a given list replaces the whole list
            f_in = validate_prefix_list("prefix_filter_in", body["prefix_filter_in"],
                                        ipv6=policy.is_ipv6)
        if body.get("prefix_filter_out") is not None:
            f_out = validate_prefix_list("prefix_filter_out", body["prefix_filter_out"],
                                         ipv6=policy.is_ipv6)
        policy.name, policy.tags = name, tags
        policy.prefix_filter_in, policy.prefix_filter_out = f_in, f_out
        policy.updated_at = now()
        return policy

    def delete_policy(self, policy_id: str) -> RoutingPolicy:
        policy = self.policy(policy_id)
        users = self.links_using_policy(policy_id)
        if users:
            raise PreconditionFailed(
                "resource_still_in_use",
                f"routing policy is attached to link(s) {', '.join(lk.id for lk in users)}")
        del self.policies[policy_id]
        return policy

    # --- links -----------------------------------------------------------------------------
    def add_link(self, link: Link) -> Link:
        self.links[link.id] = link
        return link

    def update_link(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self.link(link_id)
        _check_keys(body, LINK_WRITABLE)
        name = _name(body, link.name)
        tags = _tags(body, link.tags)
        asn = _asn(body["peer_asn"]) if body.get("peer_asn") is not None else None
        link.name, link.tags = name, tags
        if asn is not None:
            link.peer_bgp_config.asn = asn
        link.updated_at = now()
        return link

    def _usable_policy(self, link: Link, body: dict[str, Any]) -> RoutingPolicy:
        pid = body.get("routing_policy_id")
        if not isinstance(pid, str) or not pid:
            raise ArgumentError.one("routing_policy_id", "required",
                                    "routing_policy_id is required")
        policy = self.policy(pid)
        if policy.region != link.region:
            raise PreconditionFailed("region_mismatch",
                                     "routing policy and link are in different regions")
        return policy

    def attach_policy(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self.link(link_id)
        policy = self._usable_policy(link, body)
        current = link.policy_id(policy.family)
        if current == policy.id:
            raise PreconditionFailed("already_attached",
                                     "this routing policy is already attached to the link")
        if current is not None:
            raise PreconditionFailed(
                "policy_family_already_attached",
                f"an {policy.family} routing policy is already attached; "
                "use set-routing-policy to replace it")
        link.set_policy_id(policy.family, policy.id)
        link.updated_at = now()
        return link

    def set_policy(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self.link(link_id)
        policy = self._usable_policy(link, body)
        link.set_policy_id(policy.family, policy.id)
        link.updated_at = now()
        return link

    def detach_policy(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self.link(link_id)
        policy = self._usable_policy(link, body)
        if link.policy_id(policy.family) != policy.id:
            raise PreconditionFailed("not_attached",
                                     "this routing policy is not attached to the link")
        link.set_policy_id(policy.family, None)
        link.updated_at = now()
        return link

    def attach_vpc(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self.link(link_id)
        vpc_id = body.get("vpc_id")
        if not isinstance(vpc_id, str) or not vpc_id:
            raise ArgumentError.one("vpc_id", "required", "vpc_id is required")
        vpc = self.vpc(vpc_id)
        if vpc.region != link.region:
            raise PreconditionFailed("region_mismatch", "the VPC is in another region")
        if link.vpc_id is not None and link.vpc_id != vpc_id:
            raise PreconditionFailed("vpc_already_attached",
                                     "another VPC is attached; detach it first")
        link.vpc_id = vpc_id
        link.updated_at = now()
        return link

    def detach_vpc(self, link_id: str) -> Link:
        link = self.link(link_id)
        if link.vpc_id is None:
            raise PreconditionFailed("no_vpc_attached", "no VPC is attached to the link")
        # Detaching turns propagation off, as Scaleway does.
        link.vpc_id = None
        link.enable_route_propagation = False
        link.updated_at = now()
        return link

    def set_propagation(self, link_id: str, enabled: bool) -> Link:
        link = self.link(link_id)
        link.enable_route_propagation = enabled
        link.updated_at = now()
        return link
