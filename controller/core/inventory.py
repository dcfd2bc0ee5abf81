"""The set of InterLink resources and the rules of every operation on them (pure).

Over 400 lines: one class, the rules of ~30 operations sharing its lookups and checks.

Each operation validates everything first and mutates only when it cannot fail, so a rejected
request changes nothing. I/O (persistence, BGP, kernel) is the caller's business. Request
bodies are read by ``controller.core.bodies``; VLANs, peering addresses and subnets come from
``controller.core.pools``.

Link lifecycle (``Link.lifecycle``; ``provisioned`` = status derived from the BGP sessions):
hosted ``requested`` -> (partner approves) ``provisioning`` -> (wired) ``provisioned``;
``requested`` -> ``refused`` | ``expired``; self-hosted ``ready`` -> (wired) ``provisioned``.
Delete: never provisioned -> removed at once (answer shows ``deleted``); provisioned ->
``deprovisioning`` -> (unwired, ``finish_delete``) removed. Any change to a link in
``configuring``/``deprovisioning`` is 409 ``transient_state``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from controller.core import bodies, pools
from controller.core.catalog import Catalog
from controller.core.model import (
    HOSTED_START,
    SELF_HOSTED_START,
    TRANSIENT_LIFECYCLES,
    VLAN_MAX,
    VLAN_MIN,
    ArgumentError,
    CheckedPrefixes,
    Link,
    NotFound,
    PartnerRef,
    PreconditionFailed,
    PrivateNetwork,
    RoutingPolicy,
    TransientState,
    Vpc,
    new_id,
    now,
    validate_prefix_list,
)
from controller.core.pools import Network
from controller.core.prefixes import PrefixFilter

POLICY_WRITABLE = {"name", "tags", "prefix_filter_in", "prefix_filter_out"}
POLICY_CREATE = POLICY_WRITABLE | {"is_ipv6", "project_id", "region"}
LINK_WRITABLE = {"name", "tags", "peer_asn"}
# Exactly what marshal_CreateLinkRequest of the SDK can send (+ region, checked by the API).
LINK_CREATE = LINK_WRITABLE | {"pop_id", "bandwidth_mbps", "project_id", "partner_id",
                               "connection_id", "vlan", "routing_policy_v4_id",
                               "routing_policy_v6_id", "region"}
VPC_CREATE = {"name", "project_id", "tags", "enable_routing", "enable_transitivity", "region"}
PN_CREATE = {"name", "project_id", "tags", "subnets", "vpc_id",
             "default_route_propagation_enabled", "region"}

PREFIX_LISTS = ("prefix_filter_in", "prefix_filter_out")


def check_policy_prefixes(body: dict[str, Any], ipv6: Any) -> dict[str, Any]:
    """``body`` with its prefix lists validated for the family ``ipv6`` (CheckedPrefixes):
    the slow part of a policy create or update, safe to run in a thread (no shared state).
    Raises what ``create_policy`` / ``update_policy`` would for a bad list."""
    if not isinstance(ipv6, bool):
        return body  # create_policy reports it
    out = dict(body)
    for key in PREFIX_LISTS:
        if out.get(key) is not None:
            out[key] = CheckedPrefixes(validate_prefix_list(key, out[key], ipv6=ipv6), ipv6)
            PrefixFilter.compile(out[key])  # cached: the reconcile that follows is then cheap
    return out


DEFAULT_PEER_ASN = 39801  # assigned by Scaleway when none is given (observed on hosted links)

T = TypeVar("T")


def _lookup(table: dict[str, T], kind: str, key: str) -> T:
    try:
        return table[key]
    except KeyError:
        raise NotFound(kind, key) from None


@dataclass
class Inventory:
    links: dict[str, Link] = field(default_factory=dict)
    policies: dict[str, RoutingPolicy] = field(default_factory=dict)
    vpcs: dict[str, Vpc] = field(default_factory=dict)
    # Prefixes the data plane uses itself: no private network may overlap them.
    reserved: tuple[Network, ...] = ()

    # --- lookups -------------------------------------------------------------------------
    def link(self, link_id: str) -> Link:
        return _lookup(self.links, "link", link_id)

    def _changeable(self, link_id: str) -> Link:
        """The link, if a change may start now (409 while it is in a transient state)."""
        link = self.link(link_id)
        if link.lifecycle in TRANSIENT_LIFECYCLES:
            raise TransientState("link", link.id, link.lifecycle)
        return link

    def link_by_pairing_key(self, pairing_key: Any) -> Link:
        if not isinstance(pairing_key, str) or not pairing_key:
            raise ArgumentError.one("pairing_key", "required", "pairing_key is required")
        for lk in self.links.values():
            if lk.partner is not None and lk.partner.pairing_key == pairing_key:
                return lk
        raise NotFound("pairing_key", pairing_key)

    def private_network(self, pn_id: str) -> tuple[Vpc, PrivateNetwork]:
        for vpc in self.vpcs.values():
            for pn in vpc.private_networks:
                if pn.id == pn_id:
                    return vpc, pn
        raise NotFound("private_network", pn_id)

    def policy(self, policy_id: str) -> RoutingPolicy:
        return _lookup(self.policies, "routing_policy", policy_id)

    def vpc(self, vpc_id: str) -> Vpc:
        return _lookup(self.vpcs, "vpc", vpc_id)

    def links_using_policy(self, policy_id: str) -> list[Link]:
        return [lk for lk in self.links.values()
                if policy_id in (lk.routing_policy_v4_id, lk.routing_policy_v6_id)]

    def links_on_vpc(self, vpc_id: str) -> list[Link]:
        return [lk for lk in self.links.values() if lk.vpc_id == vpc_id]

    # --- routing policies ------------------------------------------------------------------
    def create_policy(self, body: dict[str, Any], region: str) -> RoutingPolicy:
        body = bodies.given(body)
        bodies.check_keys(body, POLICY_CREATE)
        is_ipv6 = body.get("is_ipv6", False)
        if not isinstance(is_ipv6, bool):
            raise ArgumentError.one("is_ipv6", "format", "must be a boolean")
        policy = RoutingPolicy(
            id=new_id(), name=bodies.name(body), is_ipv6=is_ipv6, region=region,
            prefix_filter_in=validate_prefix_list(
                "prefix_filter_in", body.get("prefix_filter_in", []), ipv6=is_ipv6),
            prefix_filter_out=validate_prefix_list(
                "prefix_filter_out", body.get("prefix_filter_out", []), ipv6=is_ipv6),
            tags=bodies.tags(body, []),
        )
        project_id = bodies.str_id(body, "project_id")
        if project_id is not None:
            policy.project_id = project_id
        self.policies[policy.id] = policy
        return policy

    def update_policy(self, policy_id: str, body: dict[str, Any]) -> RoutingPolicy:
        policy = self.policy(policy_id)
        body = bodies.given(body)
        bodies.check_keys(body, POLICY_WRITABLE)
        name = bodies.name(body, policy.name)
        tags = bodies.tags(body, policy.tags)
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
    def update_link(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self._changeable(link_id)
        body = bodies.given(body)
        bodies.check_keys(body, LINK_WRITABLE)
        name = bodies.name(body, link.name)
        tags = bodies.tags(body, link.tags)
        asn = bodies.asn(body["peer_asn"]) if body.get("peer_asn") is not None else None
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
        link = self._changeable(link_id)
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
        link = self._changeable(link_id)
        policy = self._usable_policy(link, body)
        link.set_policy_id(policy.family, policy.id)
        link.updated_at = now()
        return link

    def detach_policy(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self._changeable(link_id)
        policy = self._usable_policy(link, body)
        if link.policy_id(policy.family) != policy.id:
            raise PreconditionFailed("not_attached",
                                     "this routing policy is not attached to the link")
        link.set_policy_id(policy.family, None)
        link.updated_at = now()
        return link

    def attach_vpc(self, link_id: str, body: dict[str, Any]) -> Link:
        link = self._changeable(link_id)
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
        link = self._changeable(link_id)
        if link.vpc_id is None:
            raise PreconditionFailed("no_vpc_attached", "no VPC is attached to the link")
        # Detaching turns propagation off, as Scaleway does.
        link.vpc_id = None
        link.enable_route_propagation = False
        link.updated_at = now()
        return link

    def set_propagation(self, link_id: str, enabled: bool) -> Link:
        link = self._changeable(link_id)
        link.enable_route_propagation = enabled
        link.updated_at = now()
        return link

    # --- link creation ---------------------------------------------------------------------
    def _policy_for_create(self, body: dict[str, Any], key: str, region: str,
                           ipv6: bool) -> str | None:
        pid = bodies.str_id(body, key)
        if pid is None:
            return None
        policy = self.policy(pid)
        if policy.is_ipv6 != ipv6:
            family = "IPv6" if ipv6 else "IPv4"
            raise ArgumentError.one(key, "constraint", f"{key} must name an {family} policy")
        if policy.region != region:
            raise PreconditionFailed("region_mismatch",
                                     "routing policy and link are in different regions")
        return pid

    def create_link(self, body: dict[str, Any], region: str, catalog: Catalog) -> Link:
        """POST /links: a hosted link is ``requested`` (with a new pairing key), a self-hosted
        one ``ready``. Validates everything, allocates VLAN and peering addresses, then adds."""
        body = bodies.given(body)
        bodies.check_keys(body, LINK_CREATE)
        name = bodies.name(body)
        tags = bodies.tags(body, [])
        project_id = bodies.str_id(body, "project_id")
        partner_id = bodies.str_id(body, "partner_id")
        connection_id = bodies.str_id(body, "connection_id")
        if (partner_id is None) == (connection_id is None):
            raise ArgumentError.one(
                "partner_id", "required" if partner_id is None else "constraint",
                "exactly one of partner_id (hosted) or connection_id (self-hosted) is required")
        pop_id = bodies.str_id(body, "pop_id", required=True)
        bandwidth = bodies.integer(body, "bandwidth_mbps", required=True)
        vlan = bodies.integer(body, "vlan")
        asn = bodies.asn(body["peer_asn"]) if "peer_asn" in body else DEFAULT_PEER_ASN
        assert pop_id is not None and bandwidth is not None  # required above
        pop = catalog.pop(pop_id, region)
        v4_id = self._policy_for_create(body, "routing_policy_v4_id", region, ipv6=False)
        v6_id = self._policy_for_create(body, "routing_policy_v6_id", region, ipv6=True)

        partner_ref: PartnerRef | None = None
        if partner_id is not None:
            partner = catalog.partner(partner_id, region)
            if pop.id not in partner.pop_ids:
                raise ArgumentError.one("partner_id", "constraint",
                                        f"partner {partner.name} has no port at PoP {pop.name}")
            offered: Iterable[int] = pop.available_link_bandwidths_mbps
            vlan_lo, vlan_hi = VLAN_MIN, VLAN_MAX
            partner_ref = PartnerRef(partner_id=partner.id, pairing_key=new_id(),
                                     l3_connectivity=partner.l3_connectivity)
        else:
            assert connection_id is not None
            conn = catalog.connection(connection_id, region)
            if conn.pop_id != pop.id:
                raise ArgumentError.one("connection_id", "constraint",
                                        f"connection {conn.name} is not at PoP {pop.name}")
            if conn.status != "active":
                raise PreconditionFailed("connection_not_active",
                                         f"connection {conn.name} is {conn.status}")
            offered = conn.available_link_bandwidths
            vlan_lo, vlan_hi = conn.vlan_start, conn.vlan_end
        if bandwidth not in offered:
            raise ArgumentError.one("bandwidth_mbps", "constraint",
                                    f"must be one of {', '.join(map(str, sorted(offered)))}")
        if connection_id is not None:
            in_use = sum(lk.bandwidth_mbps for lk in self.links.values()
                         if lk.connection_id == connection_id)
            if in_use + bandwidth > conn.bandwidth_mbps:
                raise PreconditionFailed(
                    "insufficient_capacity",
                    f"connection {conn.name} has {conn.bandwidth_mbps - in_use} Mbps left")
        if vlan is not None:
            if not vlan_lo <= vlan <= vlan_hi:
                raise ArgumentError.one("vlan", "constraint", f"must be in {vlan_lo}..{vlan_hi}")
            if pools.vlan_taken(self.links.values(), vlan, partner_id, connection_id):
                raise PreconditionFailed("vlan_in_use", f"VLAN {vlan} is already in use")
        else:
            vlan = pools.allocate_vlan(list(self.links.values()), vlan_lo, vlan_hi, partner_id,
                                       connection_id)
        # Deleted links leave the inventory at once: every link here holds its resources.
        scw, peer = pools.allocate_peering(self.links.values(), asn)
        link = Link(
            id=new_id(), name=name, pop_id=pop.id, bandwidth_mbps=bandwidth, vlan=vlan,
            scw_bgp_config=scw, peer_bgp_config=peer, region=region, tags=tags,
            lifecycle=HOSTED_START if partner_ref else SELF_HOSTED_START,
            partner=partner_ref, connection_id=connection_id,
            routing_policy_v4_id=v4_id, routing_policy_v6_id=v6_id)
        if project_id is not None:
            link.project_id = project_id
        self.links[link.id] = link
        return link

    # --- link lifecycle --------------------------------------------------------------------
    def _move(self, link: Link, allowed: set[str], to: str, action: str) -> Link:
        if link.lifecycle in TRANSIENT_LIFECYCLES:
            raise TransientState("link", link.id, link.lifecycle)
        if link.lifecycle not in allowed:
            raise PreconditionFailed(
                "invalid_link_status",
                f"cannot {action} a link whose lifecycle is {link.lifecycle} "
                f"(needs {' or '.join(sorted(allowed))})")
        link.lifecycle = to
        link.updated_at = now()
        return link

    def approve_link(self, pairing_key: Any) -> Link:
        """The partner accepts the pairing key: ``requested`` -> ``provisioning``."""
        return self._move(self.link_by_pairing_key(pairing_key), {"requested"},
                          "provisioning", "approve")

    def refuse_link(self, pairing_key: Any, reason: Any = None) -> Link:
        """The partner refuses: ``requested`` -> ``refused`` with the reason (terminal)."""
        if reason is None:
            reason = "refused by the partner"
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 255:
            raise ArgumentError.one("reason", "constraint",
                                    "must be a non-empty string (<= 255)")
        link = self.link_by_pairing_key(pairing_key)
        self._move(link, {"requested"}, "refused", "refuse")
        assert link.partner is not None  # found by its pairing key
        link.partner.disapproved_reason = reason
        return link

    def expire_link(self, link_id: str) -> Link:
        """No answer from the partner in time: ``requested`` -> ``expired`` (terminal)."""
        return self._move(self.link(link_id), {"requested"}, "expired", "expire")

    def mark_provisioned(self, link_id: str) -> Link:
        """Wiring done (the controller calls it): the status now derives from the sessions."""
        return self._move(self.link(link_id), {"provisioning", "ready"}, "provisioned",
                          "provision")

    def delete_link(self, link_id: str) -> Link:
        """A never-provisioned link is removed at once (returned with lifecycle ``deleted``);
        a provisioned one goes ``deprovisioning`` until ``finish_delete``."""
        link = self._changeable(link_id)
        if link.lifecycle == "locked":
            raise PreconditionFailed("link_locked", "the link is locked by Scaleway")
        if link.lifecycle == "provisioned":
            link.lifecycle = "deprovisioning"
            link.updated_at = now()
            return link
        return self._remove_link(link)

    def finish_delete(self, link_id: str) -> Link:
        """``deprovisioning`` -> removed (the controller calls it once the wiring is gone)."""
        link = self.link(link_id)
        if link.lifecycle != "deprovisioning":
            raise PreconditionFailed("invalid_link_status",
                                     f"the link is {link.lifecycle}, not deprovisioning")
        return self._remove_link(link)

    def _remove_link(self, link: Link) -> Link:
        del self.links[link.id]
        link.lifecycle = "deleted"
        link.updated_at = now()
        return link

    # --- VPC v2 ----------------------------------------------------------------------------
    def create_vpc(self, body: dict[str, Any], region: str) -> Vpc:
        body = bodies.given(body)
        bodies.check_keys(body, VPC_CREATE)
        vpc_id = new_id()
        vpc = Vpc(id=vpc_id, name=bodies.name(body, f"vpc-{vpc_id[:8]}"), region=region,
                  tags=bodies.tags(body, []),
                  routing_enabled=bodies.boolean(body, "enable_routing", True),
                  transitivity_enabled=bodies.boolean(body, "enable_transitivity", False))
        project_id = bodies.str_id(body, "project_id")
        if project_id is not None:
            vpc.project_id = project_id
        self.vpcs[vpc.id] = vpc
        return vpc

    def delete_vpc(self, vpc_id: str) -> Vpc:
        """Like Scaleway: only an empty VPC (no private network) no link uses can go."""
        vpc = self.vpc(vpc_id)
        links = self.links_on_vpc(vpc_id)
        if links:
            raise PreconditionFailed(
                "resource_still_in_use",
                f"the VPC is attached to link(s) {', '.join(lk.id for lk in links)}")
        if vpc.private_networks:
            raise PreconditionFailed(
                "resource_still_in_use",
                f"the VPC still has {len(vpc.private_networks)} private network(s)")
        del self.vpcs[vpc_id]
        return vpc

    def create_private_network(self, body: dict[str, Any], region: str) -> PrivateNetwork:
        """vpc_id is required in the lab (Scaleway would pick the project's default VPC);
        without subnets, one IPv4 /24 and one IPv6 /64 are allocated."""
        body = bodies.given(body)
        bodies.check_keys(body, PN_CREATE)
        vpc_id = bodies.str_id(body, "vpc_id", required=True)
        assert vpc_id is not None
        vpc = self.vpc(vpc_id)
        if vpc.region != region:
            raise NotFound("vpc", vpc_id)
        pn_id = new_id()
        name = bodies.name(body, f"pn-{pn_id[:8]}")
        tags = bodies.tags(body, [])
        propagation = bodies.boolean(body, "default_route_propagation_enabled", False)
        project_id = bodies.str_id(body, "project_id") or vpc.project_id
        taken = [ipaddress.ip_network(n) for n in vpc.subnets()]
        subnets = pools.check_subnets(body.get("subnets", []), taken, self.reserved)
        if not subnets:
            # Unique across every VPC: the lab routes all VPCs through shared namespaces.
            used = [ipaddress.ip_network(n) for v in self.vpcs.values() for n in v.subnets()]
            subnets = pools.auto_subnets(used, self.reserved)
        pn = PrivateNetwork(id=pn_id, name=name, subnets=subnets, vpc_id=vpc.id, region=region,
                            project_id=project_id, organization_id=vpc.organization_id,
                            tags=tags, default_route_propagation_enabled=propagation)
        vpc.private_networks.append(pn)
        vpc.updated_at = now()
        return pn

    def delete_private_network(self, pn_id: str) -> PrivateNetwork:
        vpc, pn = self.private_network(pn_id)
        vpc.private_networks.remove(pn)
        vpc.updated_at = now()
        return pn
