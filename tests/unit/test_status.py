import pytest

from controller.core.status import bgp_status, derived_link_status, link_status


def test_bgp_status():
    assert bgp_status(False, True) == "disabled"
    assert bgp_status(True, True) == "up"
    assert bgp_status(True, False) == "down"


@pytest.mark.parametrize("v4,v6,expected", [
    ("up", "up", "active"),
    ("up", "down", "limited_connectivity"),
    ("down", "up", "limited_connectivity"),
    ("down", "down", "all_down"),
    ("up", "disabled", "active"),          # only enabled sessions count
    ("disabled", "down", "all_down"),
    ("disabled", "disabled", "all_down"),
])
def test_link_status_from_sessions(v4, v6, expected):
    assert derived_link_status((v4, v6)) == expected
    assert link_status("provisioned", (v4, v6)) == expected


@pytest.mark.parametrize("lifecycle", ["requested", "provisioning", "refused", "expired",
                                       "deprovisioning", "ready"])
def test_lifecycle_states_are_not_derived(lifecycle):
    assert link_status(lifecycle, ("up", "up")) == lifecycle
