"""controller.core.liveness: when a Scaleway speaker counts as lost, and the restart backoff."""

from __future__ import annotations

from controller.core.liveness import BACKOFF, FORGIVE, Liveness


def test_disconnect_of_a_running_speaker_is_a_loss_once() -> None:
    live = Liveness()
    assert not live.lost("scw-a")  # not ours (a customer speaker, or one we stopped)
    live.started("scw-a", fresh=True)
    assert live.lost("scw-a")
    assert live.stale("scw-a")
    assert not live.lost("scw-a")  # the watchdog finding it dead too: same loss
    live.restarted("scw-a")
    assert not live.stale("scw-a") and "scw-a" in live.running


def test_fresh_hello_is_expected_only_after_a_start() -> None:
    live = Liveness()
    live.started("scw-a", fresh=True)
    assert not live.hello("scw-a", fresh=True)  # the bridge of the process we started
    assert not live.hello("scw-a", fresh=False)  # a reconnect with its snapshot
    assert live.hello("scw-a", fresh=True)  # ExaBGP respawned the bridge: state unknown
    live.started("scw-b", fresh=False)  # adopted after a controller restart
    assert not live.hello("scw-b", fresh=False)
    live.started("scw-c", fresh=False)
    assert live.hello("scw-c", fresh=True)


def test_stale_until_restarted_and_restart_expects_a_fresh_hello() -> None:
    live = Liveness()
    live.started("scw-a", fresh=False)
    assert live.lost("scw-a")
    assert not live.hello("scw-a", fresh=True)  # the old process's respawned bridge: moot
    live.restarted("scw-a")
    assert not live.hello("scw-a", fresh=True)
    assert live.hello("scw-a", fresh=True)


def test_stopped_speakers_are_never_lost() -> None:
    live = Liveness()
    live.started("scw-a", fresh=True)
    live.stopped("scw-a")
    assert not live.lost("scw-a") and not live.hello("scw-a", fresh=True)
    live.started("scw-b", fresh=True)
    assert live.lost("scw-b")
    live.stopped("scw-b")  # stopped while its restart was pending
    live.restarted("scw-b")
    assert "scw-b" not in live.running and not live.stale("scw-b")


def test_restart_backoff_grows_and_is_forgiven() -> None:
    live = Liveness()
    delays = [live.restart_delay("scw-a", float(t)) for t in range(len(BACKOFF) + 2)]
    assert delays == [*BACKOFF, BACKOFF[-1], BACKOFF[-1]]
    assert live.restart_delay("scw-a", 100.0 + FORGIVE) == 0.0  # a quiet while: first again
    assert live.restart_delay("scw-a", 101.0 + FORGIVE) == BACKOFF[1]
    live.healthy("scw-a")  # a session came up
    assert live.restart_delay("scw-a", 102.0 + FORGIVE) == 0.0
    assert live.restart_delay("scw-b", 0.0) == 0.0  # per speaker
