"""The lab's wiring applies the changes asked while a sync runs in one next sync, and a
batch that fails is retried change by change, so that only the failing change's caller
gets the error and the others are wired. The sync itself is replaced by a recorder (no
kernel): what is checked is which scenarios reach it and what each caller is told."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.core import catalog as catalog_mod
from controller.core.inventory import Inventory
from controller.core.model import Link
from controller.drivers.store import Store
from lab.daemon import wiring as wiring_mod
from lab.daemon.wiring import RESERVED_PREFIXES, LabWiring
from lab.dataplane.build import LabBuildError
from lab.dataplane.sync import SyncReport
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario
from lab.scenario.topology import Topology

CAT = catalog_mod.load()
TH2 = "95b2e92f-b7ae-4298-a581-b6c14cdae035"
FREEPRO = "17782f6a-4bd5-4c01-b2fd-171891bc1f88"


class Recorder:
    """Stands in for build-and-sync: records the link names of each scenario it is given;
    fails any scenario holding a link whose name starts with ``bad``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, scenario, lab: str, old: Topology) -> tuple[Topology, SyncReport]:
        names = [lk.name for lk in scenario.links]
        self.calls.append(names)
        if any(n.startswith("bad") for n in names):
            raise LabBuildError("cannot build a bad link")
        return build_topology(scenario, lab, old.node_names), SyncReport((), (), 0.0)


@pytest.fixture
def wiring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LabWiring, Recorder]:
    rec = Recorder()
    monkeypatch.setattr(wiring_mod, "_build_and_sync", rec)
    return LabWiring("t", Store(tmp_path / "state.db"), load_scenario("basic")), rec


def _links(names: list[str]) -> list[Link]:
    inv = Inventory(reserved=RESERVED_PREFIXES)
    return [inv.create_link({"name": n, "pop_id": TH2, "bandwidth_mbps": 50,
                             "partner_id": FREEPRO}, "fr-par", CAT) for n in names]


def _wired(w: LabWiring) -> set[str]:
    return {lk.name.rsplit("-", 1)[0] for lk in w.scenario.links}


async def _provision_all(w: LabWiring, links: list[Link]) -> list[BaseException | None]:
    # The first takes the lock at once; the others are asked while its sync runs.
    return await asyncio.gather(*(w.provision(lk) for lk in links), return_exceptions=True)


def test_changes_asked_during_a_sync_go_in_one_next_sync(wiring) -> None:
    w, rec = wiring
    before = len(w.scenario.links)
    links = _links(["a", "b", "c", "d"])
    results = asyncio.run(_provision_all(w, links))
    assert results == [None] * 4
    assert len(rec.calls) == 2, rec.calls  # "a" alone, then b, c and d together
    assert len(rec.calls[1]) == before + 4
    assert {"a", "b", "c", "d"} <= _wired(w)
    assert all(w.placement(lk.id) is not None for lk in links)


def test_a_failing_change_fails_only_its_caller(wiring) -> None:
    w, rec = wiring
    links = _links(["a", "b", "bad", "c"])
    results = asyncio.run(_provision_all(w, links))
    assert results[0] is None and results[1] is None and results[3] is None, results
    assert isinstance(results[2], LabBuildError)
    wired = _wired(w)
    assert {"a", "b", "c"} <= wired and "bad" not in wired
    assert links[2].id not in w.link_names and w.placement(links[2].id) is None
    # a alone; b+bad+c fails; then b, bad (fails), c one by one
    assert len(rec.calls) == 5, rec.calls
    stored = w.store.get("lab", "link_names") or {}
    assert links[2].id not in stored and links[3].id in stored
