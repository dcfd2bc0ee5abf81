"""Status derivation (pure): BGP statuses per family and the link status from the sessions.

A family's session exists only when a routing policy of that family is attached; without one
the family is ``disabled``. Once a link is provisioned its status derives from the *enabled*
sessions only (the lab's documented rule where Scaleway is silent): all up -> ``active``,
some up -> ``limited_connectivity``, none up -> ``all_down``.
"""

from __future__ import annotations

from collections.abc import Iterable

UP, DOWN, DISABLED = "up", "down", "disabled"

def bgp_status(policy_attached: bool, session_up: bool) -> str:
    if not policy_attached:
        return DISABLED
    return UP if session_up else DOWN


def derived_link_status(bgp_statuses: Iterable[str]) -> str:
    """Link status of a provisioned link from its per-family BGP statuses."""
    enabled = [s for s in bgp_statuses if s != DISABLED]
    if not enabled:
        # No session is configured at all: nothing can be up, nothing is broken either.
        return "all_down"
    ups = sum(1 for s in enabled if s == UP)
    if ups == len(enabled):
        return "active"
    return "limited_connectivity" if ups else "all_down"


def link_status(lifecycle: str, bgp_statuses: Iterable[str]) -> str:
    """``lifecycle`` is the stored state; ``provisioned`` means "derive from the sessions"."""
    if lifecycle == "provisioned":
        return derived_link_status(bgp_statuses)
    return lifecycle
