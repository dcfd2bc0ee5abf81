"""The controller's ``Tables`` port over a namespace's kernel route table (netlink)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from controller.drivers.kernel import RouteTable


class KernelTable:
    def __init__(self, netns: str):
        self._table = RouteTable(netns)

    def routes(self) -> dict[str, tuple[str, ...]]:
        return {p: tuple(r.gateways) for p, r in self._table.list().items()}

    def apply(self, add: Mapping[str, tuple[str, ...]], remove: Iterable[str],
              emptied: Mapping[tuple[str, ...], Collection[str]] | None = None
              ) -> list[tuple[str, str]]:
        return self._table.apply_map(add, remove, emptied).failures

    def close(self) -> None:
        self._table.close()
