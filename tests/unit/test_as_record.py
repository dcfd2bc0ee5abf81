"""as_record: the fast asdict the store and the API use for the models."""

import dataclasses

from controller.core.inventory import Inventory
from controller.core.model import as_record


def test_as_record_is_asdict_for_every_model() -> None:
    inv = Inventory()
    pol = inv.create_policy({"name": "p", "prefix_filter_in": ["198.51.100.0/24"],
                             "tags": ["a"]}, "fr-par")
    vpc = inv.create_vpc({"name": "v"}, "fr-par")
    for obj in (pol, vpc):
        assert as_record(obj) == dataclasses.asdict(obj)
