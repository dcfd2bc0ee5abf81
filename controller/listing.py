"""List queries of the v1beta1 API (pure): parse query parameters, filter, order, page.

Rules (interlink.md): ``page`` from 1, ``page_size`` 1..1000 (default 50), ``total_count``
counts every match, a page past the end is an empty list. Bad values raise ``ArgumentError``
with every bad parameter at once. Unknown query parameters are ignored, like Scaleway does,
so a newer SDK adding a parameter keeps working. An empty value means "not given" (the
SDK never sends one; curl users type ``name=`` by accident).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.model import ArgumentError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

LINK_STATUSES = (
    "unknown_link_status", "configuring", "requested", "refused", "expired", "provisioning",
    "active", "limited_connectivity", "all_down", "deprovisioning", "deleted", "locked",
    "ready", "failed",
)
BGP_STATUSES = ("unknown_bgp_status", "up", "down", "disabled")
LINK_KINDS = ("hosted", "self_hosted")
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
        Filter("status", _eq("status"), _choice(LINK_STATUSES)),
        Filter("bgp_v4_status", _eq("bgp_v4_status"), _choice(BGP_STATUSES)),
        Filter("bgp_v6_status", _eq("bgp_v6_status"), _choice(BGP_STATUSES)),
        Filter("pop_id", _eq("pop_id")),
        Filter("bandwidth_mbps", _eq("bandwidth_mbps"), _int),
        Filter("partner_id", _eq_path("partner", "partner_id")),
        Filter("vpc_id", _eq("vpc_id")),
        Filter("routing_policy_id", _uses_policy),
        Filter("pairing_key", _eq_path("partner", "pairing_key")),
        Filter("kind", _link_kind, _choice(LINK_KINDS)),
        Filter("connection_id", _eq_path("self", "connection_id")),
    ),
)

POLICIES = ListSpec(
    orders=_orders("name"),
    default_order="created_at_asc",
    filters=(*COMMON_FILTERS, Filter("ipv6", _eq("is_ipv6"), _bool)),
)

# VPC v2 subset: what the lab needs, same conventions.
VPCS = ListSpec(orders=_orders("name"), default_order="created_at_asc", filters=COMMON_FILTERS)
PRIVATE_NETWORKS = ListSpec(
    orders=_orders("name"),
    default_order="created_at_asc",
    filters=(*COMMON_FILTERS, Filter("vpc_id", _eq("vpc_id"))),
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
    return matches[start:start + q.page_size], len(matches)


def run(items: Iterable[Item], params: Iterable[tuple[str, str]],
        spec: ListSpec) -> tuple[list[Item], int]:
    return apply(items, parse_query(params, spec), spec)
