"""The inventory's persistence: one stored document per link, routing policy and VPC.

Every change is stored before the next one starts, so the store always holds each record as
it was before the change in progress: a change whose write fails reloads what it touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from controller.core.inventory import Inventory
from controller.core.model import (
    Link,
    RoutingPolicy,
    Vpc,
    as_record,
    link_from_dict,
    policy_from_dict,
    vpc_from_dict,
)
from controller.drivers.store import Store

Key = tuple[str, str]  # (kind, id) of one stored record

# Stored kind -> (Inventory attribute, decoder).
KINDS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    "link": ("links", link_from_dict),
    "routing_policy": ("policies", policy_from_dict),
    "vpc": ("vpcs", vpc_from_dict),
}


def link_key(link: Link) -> Key:
    return "link", link.id


def policy_key(policy: RoutingPolicy) -> Key:
    return "routing_policy", policy.id


def vpc_key(vpc: Vpc) -> Key:
    return "vpc", vpc.id


class Records:
    def __init__(self, store: Store, inv: Inventory):
        self.store, self.inv = store, inv

    def _table(self, kind: str) -> dict[str, Any]:
        table: dict[str, Any] = getattr(self.inv, KINDS[kind][0])
        return table

    def load(self) -> None:
        for kind, (_attr, decode) in KINDS.items():
            table = self._table(kind)
            for d in self.store.all(kind):
                obj = decode(d)
                table[obj.id] = obj

    def seed(self, vpcs: Iterable[Vpc], policies: Iterable[RoutingPolicy],
             links: Iterable[Link]) -> None:
        """First start of a lab: the scenario's resources, stored in one transaction."""
        keys: list[Key] = []
        for v in vpcs:
            self.inv.vpcs[v.id] = v
            keys.append(vpc_key(v))
        for p in policies:
            self.inv.policies[p.id] = p
            keys.append(policy_key(p))
        for lk in links:
            self.inv.links[lk.id] = lk
            keys.append(link_key(lk))
        self.save(*keys)

    def save(self, *keys: Key) -> None:
        """Store each record as the inventory holds it now; one no longer there is deleted."""
        with self.store.transaction() as tx:
            for kind, obj_id in keys:
                obj = self._table(kind).get(obj_id)
                if obj is None:
                    tx.delete(kind, obj_id)
                else:
                    tx.put(kind, obj_id, as_record(obj))

    def reload(self, *keys: Key) -> None:
        """Put these records back in the inventory as stored (dropping those never stored)."""
        for kind, obj_id in keys:
            table, stored = self._table(kind), self.store.get(kind, obj_id)
            if stored is None:
                table.pop(obj_id, None)
            else:
                table[obj_id] = KINDS[kind][1](stored)
