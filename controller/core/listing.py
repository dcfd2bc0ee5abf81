"""List queries of the v1beta1 API (pure): parse query parameters, filter, order, page.

Rules (interlink.md): ``page`` from 1, ``page_size`` 1..1000 (default 50), ``total_count``
counts every match, a page past the end is an empty list. Bad values raise ``ArgumentError``
with every bad parameter at once. Unknown query parameters are ignored, like Scaleway does,
so a newer SDK adding a parameter keeps working. An empty value means "not given" (the
SDK never sends one; curl users type ``name=`` by accident). Boolean filters compare for
equality (``dedicated_available=false`` lists the PoPs without one). Items may carry hidden
facets for the filters (keys starting with ``_``, see ``controller.core.catalog``): they are
removed from the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.core.model import ArgumentError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

LINK_STATUSES = (
    "unknown_link_status", "configuring", "requested", "refused", "expired", "provisioning",
    "active", "limited_connectivity", "all_down", "deprovisioning", "deleted", "locked",
    "ready", "failed",
)
BGP_STATUSES = ("unknown_bgp_status", "up", "down", "disabled")
LINK_KINDS = ("hosted", "self_hosted")
CONNECTION_STATUSES = ("unknown_status", "created", "configuring", "failed", "active",
                       "disabled", "deleted", "locked")
TRUE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

Item = dict[str, Any]
# A filter keeps an item iff pred(item, value) is true; ``value`` is already parsed.
Pred = Callable[[Item, Any], bool]


@dataclass(frozen=True)
class Filter:
    name: str
    pred: Pred
    parse: Callable[[str], Any] = str
    multi: bool = False  # repeated parameter (tags=a&tags=b): value is a list
    choices: tuple[str, ...] = ()  # the accepted values, if an enumeration (documentation)

    @property
    def kind(self) -> str:
        """JSON type of one value: integer, boolean or string (for the OpenAPI document)."""
        if self.parse is _int:
            return "integer"
        return "boolean" if self.parse is _bool else "string"


@dataclass(frozen=True)
class ListSpec:
    """What one list endpoint accepts; ``orders`` maps order_by values to (sort key, reverse)."""

    orders: dict[str, tuple[Callable[[Item], Any], bool]]
    default_order: str
    filters: tuple[Filter, ...] = ()


@dataclass
class ListQuery:
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    order_by: str = ""
    filters: dict[str, Any] = field(default_factory=dict)


# --- parameter parsers ---------------------------------------------------------------------
def _choice_filter(name: str, key: str, values: Sequence[str]) -> Filter:
    return Filter(name, _eq(key), _choice(values), choices=tuple(values))


def _choice(values: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"must be one of {', '.join(values)}")
        return text
    return parse


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("must be an integer") from None


def _bool(text: str) -> bool:
    # The Python SDK sends str(True) == "True".
    try:
        return TRUE_WORDS[text.lower()]
    except KeyError:
        raise ValueError("must be a boolean (true/false)") from None


# --- predicates ------------------------------------------------------------------------------
def _eq(key: str) -> Pred:
    return lambda item, v: item.get(key) == v


def _sub(path: tuple[str, ...]) -> Callable[[Item], Any]:
    def get(item: Item) -> Any:
        cur: Any = item
        for k in path:
            cur = cur.get(k) if isinstance(cur, dict) else None
        return cur
    return get


def _eq_path(*path: str) -> Pred:
    get = _sub(path)
    return lambda item, v: get(item) == v


def _name_contains(item: Item, v: str) -> bool:
    return v.lower() in str(item.get("name", "")).lower()


def _has_tags(item: Item, v: list[str]) -> bool:
    return set(v) <= set(item.get("tags") or [])


def _link_kind(item: Item, v: str) -> bool:
    return ("self" in item) == (v == "self_hosted")


def _contains(key: str) -> Pred:
    return lambda item, v: v.lower() in str(item.get(key, "")).lower()


def _member(key: str) -> Pred:
    """The item's list ``key`` holds the value."""
    return lambda item, v: v in (item.get(key) or [])


def _any_of(key: str) -> Pred:
    """The item's ``key`` (a value or a list) is one of the given values."""
    def pred(item: Item, v: list[Any]) -> bool:
        got = item.get(key)
        return bool(set(got) & set(v)) if isinstance(got, list) else got in v
    return pred


def _uses_policy(item: Item, v: str) -> bool:
    return v in (item.get("routing_policy_v4_id"), item.get("routing_policy_v6_id"))


COMMON_FILTERS = (
    Filter("project_id", _eq("project_id")),
    Filter("organization_id", _eq("organization_id")),
    Filter("name", _name_contains),
    Filter("tags", _has_tags, multi=True),
)


def _created(item: Item) -> tuple[str, str]:
    return (str(item.get("created_at", "")), str(item.get("id", "")))


def _by(key: str) -> Callable[[Item], tuple[str, str, str]]:
    # Ties broken by creation then id: the order is total, so paging is deterministic.
    return lambda item: (str(item.get(key, "")), *_created(item))


def _orders(*keys: str) -> dict[str, tuple[Callable[[Item], Any], bool]]:
    out: dict[str, tuple[Callable[[Item], Any], bool]] = {
        "created_at_asc": (_created, False), "created_at_desc": (_created, True)}
    for k in keys:
        out[f"{k}_asc"] = (_by(k), False)
        out[f"{k}_desc"] = (_by(k), True)
    return out


LINKS = ListSpec(
    orders=_orders("name", "status"),
    default_order="created_at_asc",
    filters=(
        *COMMON_FILTERS,
        _choice_filter("status", "status", LINK_STATUSES),
        _choice_filter("bgp_v4_status", "bgp_v4_status", BGP_STATUSES),
        _choice_filter("bgp_v6_status", "bgp_v6_status", BGP_STATUSES),
        Filter("pop_id", _eq("pop_id")),
        Filter("bandwidth_mbps", _eq("bandwidth_mbps"), _int),
        Filter("partner_id", _eq_path("partner", "partner_id")),
        Filter("vpc_id", _eq("vpc_id")),
        Filter("routing_policy_id", _uses_policy),
        Filter("pairing_key", _eq_path("partner", "pairing_key")),
        Filter("kind", _link_kind, _choice(LINK_KINDS), choices=LINK_KINDS),
        Filter("connection_id", _eq_path("self", "connection_id")),
    ),
)

POLICIES = ListSpec(
    orders=_orders("name"),
    default_order="created_at_asc",
    filters=(*COMMON_FILTERS, Filter("ipv6", _eq("is_ipv6"), _bool)),
)

def _name_orders() -> dict[str, tuple[Callable[[Item], Any], bool]]:
    by_name = _by("name")
    return {"name_asc": (by_name, False), "name_desc": (by_name, True)}


# Catalog lists: ordered by name by default (the SDK's documented default).
POPS = ListSpec(
    orders=_name_orders(),
    default_order="name_asc",
    filters=(
        Filter("name", _name_contains),
        Filter("hosting_provider_name", _contains("hosting_provider_name")),
        Filter("partner_id", _member("_partner_ids")),
        Filter("link_bandwidth_mbps", _member("available_link_bandwidths_mbps"), _int),
        Filter("dedicated_available", _eq("_dedicated_available"), _bool),
        Filter("l3_connectivity_partners", _eq("_l3_partners"), _bool),
    ),
)

PARTNERS = ListSpec(
    orders=_name_orders(),
    default_order="name_asc",
    filters=(
        Filter("pop_ids", _any_of("_pop_ids"), multi=True),
        Filter("l3_connectivity", _eq("l3_connectivity"), _bool),
    ),
)

DEDICATED_CONNECTIONS = ListSpec(
    orders={**_orders("name", "status"),
            "updated_at_asc": (_by("updated_at"), False),
            "updated_at_desc": (_by("updated_at"), True)},
    default_order="name_asc",
    filters=(
        *COMMON_FILTERS,
        _choice_filter("status", "status", CONNECTION_STATUSES),
        Filter("bandwidth_mbps", _eq("bandwidth_mbps"), _int),
        Filter("pop_id", _eq("pop_id")),
    ),
)

# VPC v2 subset: what the lab needs, same conventions.
VPCS = ListSpec(
    orders=_orders("name"),
    default_order="created_at_asc",
    filters=(
        *COMMON_FILTERS,
        Filter("is_default", _eq("is_default"), _bool),
        Filter("routing_enabled", _eq("routing_enabled"), _bool),
        Filter("object_storage_private_access_enabled",
               _eq("object_storage_private_access_enabled"), _bool),
    ),
)
PRIVATE_NETWORKS = ListSpec(
    orders=_orders("name"),
    default_order="created_at_asc",
    filters=(
        *COMMON_FILTERS,
        Filter("vpc_id", _eq("vpc_id")),
        Filter("private_network_ids", _any_of("id"), multi=True),
        Filter("dhcp_enabled", _eq("dhcp_enabled"), _bool),
        Filter("object_storage_private_access_enabled",
               _eq("has_object_storage_private_access"), _bool),
    ),
)


def _bad(name: str, reason: str, help_message: str) -> dict[str, str]:
    return {"argument_name": name, "reason": reason, "help_message": help_message}


def parse_query(params: Iterable[tuple[str, str]], spec: ListSpec) -> ListQuery:
    """``params`` are the raw (key, value) pairs of the query string, repeats kept."""
    values: dict[str, list[str]] = {}
    for k, v in params:
        if v != "":
            values.setdefault(k, []).append(v)
    q = ListQuery(order_by=spec.default_order)
    bad: list[dict[str, str]] = []

    def single(name: str) -> str | None:
        got = values.get(name)
        if not got:
            return None
        if len(got) > 1:
            bad.append(_bad(name, "constraint", "given more than once"))
            return None
        return got[0]

    for name, lo, hi in (("page", 1, None), ("page_size", 1, MAX_PAGE_SIZE)):
        text = single(name)
        if text is None:
            continue
        try:
            n = int(text)
        except ValueError:
            bad.append(_bad(name, "format", "must be an integer"))
            continue
        if n < lo or (hi is not None and n > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            bad.append(_bad(name, "constraint", f"must be in {rng}"))
            continue
        setattr(q, name, n)

    order = single("order_by")
    if order is not None:
        if order in spec.orders:
            q.order_by = order
        else:
            bad.append(_bad("order_by", "constraint",
                            f"must be one of {', '.join(spec.orders)}"))

    for f in spec.filters:
        if f.multi:
            if values.get(f.name):
                q.filters[f.name] = [f.parse(v) for v in values[f.name]]
            continue
        text = single(f.name)
        if text is None:
            continue
        try:
            q.filters[f.name] = f.parse(text)
        except ValueError as exc:
            bad.append(_bad(f.name, "format" if f.parse in (_int, _bool) else "constraint",
                            str(exc)))
    if bad:
        raise ArgumentError(bad)
    return q


def apply(items: Iterable[Item], q: ListQuery, spec: ListSpec) -> tuple[list[Item], int]:
    """Filter, order and cut one page: returns (page items, total_count)."""
    preds = {f.name: f.pred for f in spec.filters}
    matches = [it for it in items
               if all(preds[name](it, v) for name, v in q.filters.items())]
    key, reverse = spec.orders[q.order_by]
    matches.sort(key=key, reverse=reverse)
    start = (q.page - 1) * q.page_size
    page = [{k: v for k, v in it.items() if not k.startswith("_")}
            for it in matches[start:start + q.page_size]]
    return page, len(matches)


def run(items: Iterable[Item], params: Iterable[tuple[str, str]],
        spec: ListSpec) -> tuple[list[Item], int]:
    return apply(items, parse_query(params, spec), spec)
