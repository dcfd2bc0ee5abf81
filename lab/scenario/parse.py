"""Scenario YAML -> Scenario: loading files by name or path, and the validating parser
(pure, except reading the file in `load_scenario`).

Over 400 lines on purpose: one parser class whose per-section rules share its typed readers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from controller.core.limits import MAX_POLICY_ENTRIES
from controller.core.secrets import md5_password_problem
from lab.scenario import impairment
from lab.scenario.impairment import Impairment
from lab.scenario.model import (
    COMMUNITY_RE,
    DEFAULT_CUSTOMER,
    DEFAULT_HOLD_TIME,
    DEFAULT_PARTNER,
    DEFAULT_ROUTER,
    DEFAULT_RUNTIME,
    HOLD_TIME_RULE,
    HOST_OFFSET,
    MAX_LINK_INDEX,
    MAX_VPC_INDEX,
    NAME_RE,
    ROUTER_OFFSET,
    RUNTIME_NAMES,
    SCENARIO_DIR,
    TOP_LEVEL_KEYS,
    TRANSIT_V4,
    TRANSIT_V6,
    VLAN_MAX,
    VLAN_MIN,
    AnnounceSpec,
    CustomerSpec,
    IPNetwork,
    LinkSpec,
    PrivateNetworkSpec,
    RoutingPolicySpec,
    Scenario,
    ScenarioError,
    VpcSpec,
    host_conflict,
    host_offset,
    valid_hold_time,
)

# --------------------------------------------------------------------------- loading


def resolve_scenario_path(path_or_name: str) -> Path:
    """A bare name ("basic") means lab/scenarios/<name>.yaml; anything else is a path."""
    if "/" not in path_or_name and not path_or_name.endswith((".yaml", ".yml")):
        return SCENARIO_DIR / f"{path_or_name}.yaml"
    return Path(path_or_name)


def leading_comment(text: str) -> str:
    """The comment block at the top of a YAML file, without the `#` marks."""
    lines: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("#"):
            break
        lines.append(s[1:].strip())
    return "\n".join(lines).strip()


def load_scenario(path_or_name: str) -> Scenario:
    path = resolve_scenario_path(path_or_name)
    try:
        text = path.read_text()
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ScenarioError(
            f"scenario {path_or_name!r} not found ({path}); shipped: {known}") from None
    except OSError as e:
        raise ScenarioError(f"cannot read scenario {path}: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError(f"{path}: invalid YAML: {e}") from e
    return parse_scenario(data, source=str(path), default_description=leading_comment(text),
                          base_dir=path.resolve().parent)


def parse_scenario(data: Any, source: str = "<scenario>", *,
                   default_description: str = "", base_dir: Path | None = None) -> Scenario:
    """Validate a scenario mapping (as loaded from YAML). Raises ScenarioError.
    `default_description` is used when there is no `description:` key (load_scenario passes
    the file's leading comment). `base_dir`: where relative paths in the file (a customer's
    `config`) are read from, the scenario file's folder; None keeps them as written."""
    return _Parser(source, base_dir).scenario(data, default_description)


def resolve_config_path(value: str, base_dir: Path | None) -> str:
    """A customer's `config` as the lab reads it: absolute, relative ones from ``base_dir``."""
    p = Path(value).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return str(p)



class _Parser:
    def __init__(self, source: str, base_dir: Path | None = None) -> None:
        self.source = source
        self.base_dir = base_dir

    def err(self, where: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {where}: {msg}")

    # -- primitives

    def mapping(self, v: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.err(where, f"expected a mapping, got {type(v).__name__}")
        return v

    def known_keys(self, d: Mapping[str, Any], where: str, keys: Iterable[str]) -> None:
        unknown = set(d) - set(keys)
        if unknown:
            raise self.err(where, f"unknown keys {sorted(map(str, unknown))}")

    def seq(self, v: Any, where: str) -> list[Any]:
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.err(where, f"expected a list, got {type(v).__name__}")
        return v

    def name(self, v: Any, where: str) -> str:
        if not isinstance(v, str) or not NAME_RE.match(v):
            raise self.err(where, f"invalid name {v!r} (letters, digits, '_', '.', '-')")
        return v

    def integer(self, v: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(where, f"expected an integer, got {v!r}")
        if not lo <= v <= hi:
            raise self.err(where, f"{v} is outside {lo}..{hi}")
        return v

    def boolean(self, v: Any, where: str) -> bool:
        if not isinstance(v, bool):
            raise self.err(where, f"expected true or false, got {v!r}")
        return v

    def password(self, v: Any, where: str) -> str | None:
        if v is None:
            return None
        problem = md5_password_problem(v)
        if problem is not None:
            raise self.err(where, f"MD5 password {problem}")
        return v

    def prefix(self, v: Any, where: str, version: int | None = None, *,
               routed: bool = False) -> IPNetwork:
        if not isinstance(v, str):
            raise self.err(where, f"expected a prefix string like '203.0.113.0/24', got {v!r}")
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as e:
            raise self.err(where, f"invalid prefix {v!r}: {e}") from None
        if "/" not in v:
            raise self.err(where, f"prefix {v!r} needs a prefix length")
        if version is not None and net.version != version:
            raise self.err(where, f"{v} is not an IPv{version} prefix")
        why = host_conflict(net, routed=routed)
        if why is not None:
            raise self.err(where, why)
        return net

    def community(self, v: Any, where: str) -> str:
        m = COMMUNITY_RE.match(v) if isinstance(v, str) else None
        if m is None or int(m.group(1)) > 65535 or int(m.group(2)) > 65535:
            raise self.err(where, f"bad community {v!r}: expected ASN:VALUE, both 0..65535 "
                                  "(e.g. '12876:42200')")
        return f"{int(m.group(1))}:{int(m.group(2))}"

    def unique(self, items: list[Any], where: str, what: str) -> None:
        seen: set[Any] = set()
        for it in items:
            if it in seen:
                raise self.err(where, f"duplicate {what} {it!r}")
            seen.add(it)

    # -- sections

    def scenario(self, data: Any, default_description: str) -> Scenario:
        d = self.mapping(data, "top level")
        self.known_keys(d, "top level", TOP_LEVEL_KEYS)
        name = self.name(d.get("name"), "name")
        description = d.get("description", default_description)
        if not isinstance(description, str):
            raise self.err("description", f"expected a string, got {description!r}")
        timers = self.mapping(d.get("timers") or {}, "timers")
        self.known_keys(timers, "timers", ("hold_time",))
        hold = timers.get("hold_time", DEFAULT_HOLD_TIME)
        if isinstance(hold, bool) or not isinstance(hold, int):
            raise self.err("timers.hold_time", f"expected an integer, got {hold!r}")
        if not valid_hold_time(hold):
            raise self.err("timers.hold_time", f"{HOLD_TIME_RULE}, not {hold}")
        customers = self.customers(d)
        vpcs = tuple(self.vpc(v, f"vpcs[{i}]", i + 1)
                     for i, v in enumerate(self.seq(d.get("vpcs"), "vpcs")))
        policies = tuple(self.policy(v, f"routing_policies[{i}]")
                         for i, v in enumerate(self.seq(d.get("routing_policies"),
                                                        "routing_policies")))
        cust_names = [c.name for c in customers]
        links = tuple(self.link(v, f"links[{i}]", i + 1, cust_names)
                      for i, v in enumerate(self.seq(d.get("links"), "links")))
        self.unique([v.name for v in vpcs], "vpcs", "VPC name")
        self.unique([v.index for v in vpcs], "vpcs", "VPC index")
        self.unique([p.name for p in policies], "routing_policies", "routing policy name")
        self.unique([lk.name for lk in links], "links", "link name")
        self.unique([lk.index for lk in links], "links", "link index")
        # One VLAN per partner switch: the same VID on two ports of a switch would bridge them.
        for partner in dict.fromkeys(lk.partner for lk in links):
            where = "links" if partner == DEFAULT_PARTNER else f"links (partner {partner!r})"
            self.unique([lk.vlan for lk in links if lk.partner == partner], where, "VLAN")
        # A port is one place (a partner's switch) with one capacity.
        ports: dict[str, LinkSpec] = {}
        for i, lk in enumerate(links):
            first = ports.setdefault(lk.port, lk) if lk.port else lk
            if (first.partner, first.port_mbps) != (lk.partner, lk.port_mbps):
                raise self.err(f"links[{i}].port", f"port {lk.port!r} is {first.port_mbps} "
                                                   f"Mbps through partner {first.partner!r} "
                                                   f"(link {first.name})")
        # Two links of one customer with the same peering would clash on its router.
        for c in cust_names:
            for attr in ("peering_v4", "peering_v6"):
                self.unique([getattr(lk, attr) for lk in links
                             if lk.customer == c and getattr(lk, attr)],
                            f"links (customer {c!r})", "peering")
        self.unique([pn.name for v in vpcs for pn in v.private_networks], "vpcs",
                    "private network name")
        self.no_overlap(vpcs, customers)
        vpc_names = {v.name for v in vpcs}
        pol = {p.name: p for p in policies}
        for i, lk in enumerate(links):
            where = f"links[{i}] ({lk.name})"
            if lk.vpc is not None and lk.vpc not in vpc_names:
                raise self.err(where, f"unknown vpc {lk.vpc!r} (known: {sorted(vpc_names)})")
            seen_family: set[bool] = set()
            for ref in lk.routing_policies:
                if ref not in pol:
                    raise self.err(where, f"unknown routing policy {ref!r} "
                                          f"(known: {sorted(pol)})")
                fam = pol[ref].is_ipv6
                if fam in seen_family:
                    raise self.err(where, f"two IPv{6 if fam else 4} routing policies attached")
                seen_family.add(fam)
                if (lk.peering_v6 if fam else lk.peering_v4) is None:
                    raise self.err(where, f"policy {ref!r} is IPv{6 if fam else 4} but the link "
                                          "has no peering address of that family")
        self.announce_links(d, customers, links)
        steps = tuple(self.seq(d.get("steps"), "steps"))
        checks = tuple(self.seq(d.get("checks"), "checks"))
        waits: dict[str, float] = {}
        for k, v in self.mapping(d.get("waits") or {}, "waits").items():
            if not isinstance(k, str) or not k:
                raise self.err("waits", f"wait names must be strings, got {k!r}")
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise self.err(f"waits.{k}", f"expected a number of seconds >= 0, got {v!r}")
            waits[k] = float(v)
        ready = self.boolean(d.get("ready", True), "ready")
        runtime = d.get("runtime", DEFAULT_RUNTIME)
        if runtime not in RUNTIME_NAMES:
            raise self.err("runtime", f"expected one of {', '.join(RUNTIME_NAMES)}, "
                           f"got {runtime!r}")
        image = d.get("image")
        if image is not None and (not isinstance(image, str) or not image.strip()):
            raise self.err("image", f"expected an image reference, got {image!r}")
        return Scenario(name=name, hold_time=hold, customers=customers, vpcs=vpcs,
                        routing_policies=policies, links=links, description=description,
                        steps=steps, checks=checks, waits=waits, ready=ready,
                        runtime=runtime, image=image)

    def announce_links(self, d: Mapping[str, Any], customers: tuple[CustomerSpec, ...],
                       links: tuple[LinkSpec, ...]) -> None:
        # Checked here, not in announce(): customers are parsed before the links.
        base = "customers" if "customers" in d else "customer"
        for ci, c in enumerate(customers):
            own = [lk.name for lk in links if lk.customer == c.name]
            for ai, a in enumerate(c.announce):
                if a.link is not None and a.link not in own:
                    where = (f"{base}[{ci}]" if base == "customers" else base) + \
                        f".announce[{ai}].link"
                    raise self.err(where, f"{a.link!r} is not a link of customer {c.name!r} "
                                          f"(its links: {', '.join(own) or 'none'})")

    def customers(self, d: Mapping[str, Any]) -> tuple[CustomerSpec, ...]:
        if "customer" in d and "customers" in d:
            raise self.err("top level", "give either `customer:` (one) or `customers:` (a "
                                        "list), not both")
        if "customers" in d:
            items = self.seq(d["customers"], "customers")
            out = tuple(self.customer(c, f"customers[{i}]") for i, c in enumerate(items))
        else:
            out = (self.customer(d.get("customer"), "customer"),)
        if not out:
            raise self.err("customers", "needs at least one customer")
        self.unique([c.name for c in out], "customers", "customer name")
        return out

    def no_overlap(self, vpcs: tuple[VpcSpec, ...],
                   customers: tuple[CustomerSpec, ...]) -> None:
        # Strict: the lab routes everything by destination, so overlapping LANs of two tenants
        # would make probes and checks ambiguous even where the kernel could cope.
        nets: list[tuple[str, IPNetwork]] = [("lab transit", TRANSIT_V4),
                                             ("lab transit", TRANSIT_V6)]
        for c in customers:
            label = "customer.lan" if len(customers) == 1 else f"customer {c.name} lan"
            for lan in (c.lan_v4, c.lan_v6):
                if lan:
                    nets.append((label, ipaddress.ip_network(lan)))
        for v in vpcs:
            for s in v.subnets:
                nets.append((f"vpc {v.name}", ipaddress.ip_network(s)))
        for i, (wa, a) in enumerate(nets):
            for wb, b in nets[i + 1:]:
                if a.version == b.version and a.overlaps(b):
                    raise self.err("vpcs" if wb.startswith("vpc") else "customers",
                                   f"{a} ({wa}) overlaps {b} ({wb})")

    def announce(self, v: Any, where: str) -> AnnounceSpec:
        if isinstance(v, str):
            return AnnounceSpec(str(self.prefix(v, where, routed=True)), ())
        d = self.mapping(v, where)
        self.known_keys(d, where, ("prefix", "community", "communities", "link"))
        if "community" in d and "communities" in d:
            raise self.err(where, "give `community` or `communities`, not both")
        raw = [d["community"]] if "community" in d else self.seq(d.get("communities"),
                                                                  f"{where}.communities")
        comms = tuple(self.community(c, f"{where}.communities[{i}]") for i, c in enumerate(raw))
        link = None if d.get("link") is None else self.name(d["link"], f"{where}.link")
        return AnnounceSpec(str(self.prefix(d.get("prefix"), f"{where}.prefix", routed=True)),
                            comms, link)

    def customer(self, v: Any, where: str) -> CustomerSpec:
        c = self.mapping(v, where)
        self.known_keys(c, where, ("name", "asn", "router", "lan", "announce", "md5_password",
                                   "config", "image"))
        name = self.name(c.get("name", DEFAULT_CUSTOMER), f"{where}.name")
        asn = self.integer(c.get("asn"), f"{where}.asn", 1, 4294967295)
        if asn == 12876:
            raise self.err(f"{where}.asn", "12876 is Scaleway's ASN")
        # Which kinds exist is lab.routers' business (checked by validation and `up`).
        router = self.name(c.get("router", DEFAULT_ROUTER), f"{where}.router")
        lan = self.mapping(c.get("lan"), f"{where}.lan")
        self.known_keys(lan, f"{where}.lan", ("ipv4", "ipv6"))
        v4 = self.prefix(lan["ipv4"], f"{where}.lan.ipv4", 4) if lan.get("ipv4") else None
        v6 = self.prefix(lan["ipv6"], f"{where}.lan.ipv6", 6) if lan.get("ipv6") else None
        if v4 is None and v6 is None:
            raise self.err(f"{where}.lan", "needs ipv4 and/or ipv6")
        for net, w in ((v4, f"{where}.lan.ipv4"), (v6, f"{where}.lan.ipv6")):
            if net is not None:
                self.hostable(net, w)
        announce = tuple(self.announce(p, f"{where}.announce[{i}]")
                         for i, p in enumerate(self.seq(c.get("announce"), f"{where}.announce")))
        config = self.optional_string(c.get("config"), f"{where}.config")
        if config is not None and router == DEFAULT_ROUTER:
            # The ExaBGP customer is the lab's own speaker: its configuration is generated.
            raise self.err(f"{where}.config", f"a configuration of your own needs router: frr "
                                              f"or bird; the {router} customer router runs the "
                                              "lab's generated configuration")
        if config is not None:
            config = resolve_config_path(config, self.base_dir)
        return CustomerSpec(name=name, asn=asn, router=router, lan_v4=str(v4) if v4 else None,
                            lan_v6=str(v6) if v6 else None, announce=announce,
                            md5_password=self.password(c.get("md5_password"),
                                                       f"{where}.md5_password"),
                            config=config,
                            image=self.optional_string(c.get("image"), f"{where}.image"))

    def optional_string(self, v: Any, where: str) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str) or not v.strip() or "\n" in v:
            raise self.err(where, f"expected a non-empty string on one line, got {v!r}")
        return v

    def hostable(self, net: IPNetwork, where: str) -> None:
        if net.num_addresses < host_offset(net.version) + 2:
            raise self.err(where, f"{net} is too small: the lab uses .{ROUTER_OFFSET} for the "
                                  f"router and .{HOST_OFFSET} for the host")

    def vpc(self, v: Any, where: str, position: int) -> VpcSpec:
        d = self.mapping(v, where)
        self.known_keys(d, where, ("name", "index", "private_networks"))
        name = self.name(d.get("name"), f"{where}.name")
        index = self.integer(d.get("index", position), f"{where}.index", 1, MAX_VPC_INDEX)
        pns = []
        for i, pn in enumerate(self.seq(d.get("private_networks"), f"{where}.private_networks")):
            w = f"{where}.private_networks[{i}]"
            pd = self.mapping(pn, w)
            self.known_keys(pd, w, ("name", "subnets"))
            subnets = []
            versions: set[int] = set()
            for j, s in enumerate(self.seq(pd.get("subnets"), f"{w}.subnets")):
                net = self.prefix(s, f"{w}.subnets[{j}]")
                self.hostable(net, f"{w}.subnets[{j}]")
                if net.version in versions:
                    raise self.err(f"{w}.subnets", f"more than one IPv{net.version} subnet")
                versions.add(net.version)
                subnets.append(str(net))
            if not subnets:
                raise self.err(w, "needs at least one subnet")
            pns.append(PrivateNetworkSpec(name=self.name(pd.get("name"), f"{w}.name"),
                                          subnets=tuple(subnets)))
        return VpcSpec(name=name, private_networks=tuple(pns), index=index)

    def policy(self, v: Any, where: str) -> RoutingPolicySpec:
        d = self.mapping(v, where)
        self.known_keys(d, where, ("name", "is_ipv6", "prefix_filter_in", "prefix_filter_out"))
        name = self.name(d.get("name"), f"{where}.name")
        is_v6 = self.boolean(d.get("is_ipv6", False), f"{where}.is_ipv6")
        fam = 6 if is_v6 else 4
        lists = {}
        for key in ("prefix_filter_in", "prefix_filter_out"):
            items = self.seq(d.get(key), f"{where}.{key}")
            if len(items) > MAX_POLICY_ENTRIES:  # what the API refuses, a scenario cannot seed
                raise self.err(f"{where}.{key}", f"{len(items)} prefixes: at most "
                                                 f"{MAX_POLICY_ENTRIES} per list")
            lists[key] = tuple(str(self.prefix(p, f"{where}.{key}[{i}]", fam, routed=True))
                               for i, p in enumerate(items))
        return RoutingPolicySpec(name=name, is_ipv6=is_v6, **lists)

    def link(self, v: Any, where: str, position: int, customers: list[str]) -> LinkSpec:
        d = self.mapping(v, where)
        self.known_keys(d, where, ("name", "index", "customer", "partner", "pop", "vlan",
                                   "bandwidth_mbps", "peering", "vpc", "routing_policies",
                                   "enable_route_propagation", "md5_password",
                                   "impairments", "port"))
        name = self.name(d.get("name"), f"{where}.name")
        index = self.integer(d.get("index", position), f"{where}.index", 1, MAX_LINK_INDEX)
        if "customer" in d:
            customer = self.name(d["customer"], f"{where}.customer")
            if customer not in customers:
                raise self.err(f"{where}.customer", f"unknown customer {customer!r} "
                                                    f"(known: {sorted(customers)})")
        elif len(customers) == 1:
            customer = customers[0]
        else:
            raise self.err(where, f"customer: ambiguous, the scenario has several customers "
                                  f"({', '.join(customers)}); name one")
        partner = self.name(d.get("partner", DEFAULT_PARTNER), f"{where}.partner")
        pop = self.name(d["pop"], f"{where}.pop") if d.get("pop") is not None else None
        vlan = self.integer(d.get("vlan"), f"{where}.vlan", VLAN_MIN, VLAN_MAX)
        bw = self.integer(d.get("bandwidth_mbps", 1000), f"{where}.bandwidth_mbps", 1, 400_000)
        peering = self.mapping(d.get("peering"), f"{where}.peering")
        self.known_keys(peering, f"{where}.peering", ("ipv4", "ipv6"))
        p4 = self.peering(peering.get("ipv4"), f"{where}.peering.ipv4", 4)
        p6 = self.peering(peering.get("ipv6"), f"{where}.peering.ipv6", 6)
        if p4 is None and p6 is None:
            raise self.err(f"{where}.peering", "needs ipv4 and/or ipv6")
        vpc = d.get("vpc")
        if vpc is not None:
            vpc = self.name(vpc, f"{where}.vpc")
        refs = tuple(self.name(r, f"{where}.routing_policies[{i}]")
                     for i, r in enumerate(self.seq(d.get("routing_policies"),
                                                    f"{where}.routing_policies")))
        prop = self.boolean(d.get("enable_route_propagation", False),
                            f"{where}.enable_route_propagation")
        imp, imp_dir = self.impairments(d.get("impairments"), f"{where}.impairments")
        port, port_mbps = None, 0
        if d.get("port") is not None:
            pd = self.mapping(d["port"], f"{where}.port")
            self.known_keys(pd, f"{where}.port", ("name", "bandwidth_mbps"))
            port = self.name(pd.get("name"), f"{where}.port.name")
            port_mbps = self.integer(pd.get("bandwidth_mbps"), f"{where}.port.bandwidth_mbps",
                                     1, 400_000)
            if bw > port_mbps:
                raise self.err(f"{where}.bandwidth_mbps", f"{bw} Mbps is more than its port "
                                                          f"{port!r} has ({port_mbps})")
        return LinkSpec(name=name, vlan=vlan, bandwidth_mbps=bw, peering_v4=p4, peering_v6=p6,
                        vpc=vpc, routing_policies=refs, enable_route_propagation=prop,
                        customer=customer, index=index, partner=partner, pop=pop,
                        md5_password=self.password(d.get("md5_password"),
                                                   f"{where}.md5_password"),
                        impairment=imp, impair_direction=imp_dir, port=port,
                        port_mbps=port_mbps)

    def impairments(self, v: Any, where: str) -> tuple[Impairment | None, str]:
        """A link's ``impairments: {delay: 20ms, loss: 1%, direction: to-vpc}``."""
        if v is None:
            return None, "both"
        d = dict(self.mapping(v, where))
        try:
            way = impairment.direction(d.pop("direction", "both"))
            return impairment.parse(d), way
        except impairment.ImpairmentError as e:
            raise self.err(where, str(e)) from None

    def peering(self, v: Any, where: str, version: int) -> str | None:
        if v is None:
            return None
        plen = 31 if version == 4 else 127
        rule = ("Scaleway takes the even address and the peer the odd one"
                if version == 4 else "Scaleway takes ..0 and the peer ..1")
        if not isinstance(v, str) or "/" not in v:
            raise self.err(where, f"expected a /{plen} like "
                                  f"{'169.254.0.16/31' if version == 4 else '2001:db8::/127'}, "
                                  f"got {v!r}")
        try:
            iface = ipaddress.ip_interface(v)
        except ValueError as e:
            raise self.err(where, f"invalid prefix {v!r}: {e}") from None
        if iface.version != version:
            raise self.err(where, f"{v} is not an IPv{version} prefix")
        if iface.network.prefixlen != plen:
            raise self.err(where, f"{v}: the peering must be a /{plen} ({rule})")
        if iface.ip != iface.network.network_address:
            raise self.err(where, f"{v}: give the /{plen} by its network address "
                                  f"{iface.network} ({rule})")
        return str(self.prefix(v, where, version))


# --------------------------------------------------------------------------- topology
