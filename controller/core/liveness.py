"""Which Scaleway-side speakers are lost, and when to start them again (pure).

A speaker the controller runs is lost when its bridge disconnects (outside a shutdown: the
bridge only exits with its ExaBGP, or when killed), when its process is found dead, or when
its bridge says a *fresh* hello although the speaker ran before: ExaBGP respawned the bridge,
whose snapshot is empty, so the sessions' true state is unknown. A lost speaker is restarted;
its hub events are stale from the loss until the restart is done. Losses in a row back off,
so that a speaker which cannot start does not spin; a session up ends the series.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BACKOFF", "Liveness"]

# Seconds before restart number N of a speaker lost again within FORGIVE seconds.
BACKOFF = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)
FORGIVE = 30.0


@dataclass
class Liveness:
    running: set[str] = field(default_factory=set)  # believed running, sessions configured
    restarting: set[str] = field(default_factory=set)  # lost: a restart is pending
    expect_fresh: set[str] = field(default_factory=set)  # (re)started: first hello is fresh
    _losses: dict[str, tuple[int, float]] = field(default_factory=dict)  # name -> (n, last)

    def started(self, name: str, fresh: bool) -> None:
        """The controller runs ``name``: ``fresh`` when it started the process itself (its
        bridge's first hello is fresh), not when it adopted a running one."""
        self.running.add(name)
        if fresh:
            self.expect_fresh.add(name)
        else:
            self.expect_fresh.discard(name)

    def stopped(self, name: str) -> None:
        """The controller stops ``name`` (or gives it up): nothing it does is a loss."""
        self.running.discard(name)
        self.restarting.discard(name)
        self.expect_fresh.discard(name)
        self._losses.pop(name, None)

    def stale(self, name: str) -> bool:
        """True while a restart is pending: what the old process's bridge says is moot."""
        return name in self.restarting

    def lost(self, name: str) -> bool:
        """Its bridge disconnected or its process is dead: True if that is news (restart it)."""
        if name not in self.running or name in self.restarting:
            return False
        self.restarting.add(name)
        return True

    def hello(self, name: str, fresh: bool) -> bool:
        """A bridge said hello: True if that reveals a loss (a respawned bridge)."""
        if name in self.restarting:
            return False
        if name in self.expect_fresh:
            self.expect_fresh.discard(name)
            return False
        return fresh and self.lost(name)

    def restart_delay(self, name: str, now: float) -> float:
        """Seconds to wait before restarting ``name``, counting this loss."""
        n, last = self._losses.get(name, (0, now))
        n = n + 1 if now - last < FORGIVE else 1
        self._losses[name] = (n, now)
        return BACKOFF[min(n, len(BACKOFF)) - 1]

    def healthy(self, name: str) -> None:
        """A session of ``name`` came up: the next loss is a first one again."""
        self._losses.pop(name, None)

    def restarted(self, name: str) -> None:
        """The restart is done (or failed: the watchdog will find it dead again)."""
        if name not in self.restarting:
            return  # stopped meanwhile
        self.restarting.discard(name)
        self.running.add(name)
        self.expect_fresh.add(name)
