"""The controller's ``Tables`` port over a namespace's kernel route table (netlink)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controller.drivers.kernel import KernelRoute, RouteTable


class KernelTable:
    def __init__(self, netns: str):
        self._table = RouteTable(netns)

    def routes(self) -> dict[str, tuple[str, ...]]:
        return {p: tuple(r.gateways) for p, r in self._table.list().items()}

    def apply(self, add: Mapping[str, tuple[str, ...]],
              remove: Iterable[str]) -> list[tuple[str, str]]:
        routes = [KernelRoute(p, gws) for p, gws in add.items()]
        return self._table.apply(routes, remove).failures

    def close(self) -> None:
        self._table.close()
