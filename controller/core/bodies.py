"""Reading the fields of an API request body (pure), with Scaleway's error shapes.

Unknown keys are rejected (400, reason ``unknown``); a key whose value is ``null`` counts as
not given (the official SDK sends ``"project_id": null`` when its client has no default
project, and omits every other unset field).
"""

from __future__ import annotations

from typing import Any

from controller.core.model import SCW_ASN, ArgumentError


def given(body: dict[str, Any]) -> dict[str, Any]:
    """The body without null values: ``null`` means "not given"."""
    return {k: v for k, v in body.items() if v is not None}


def check_keys(body: dict[str, Any], allowed: set[str]) -> None:
    # Unknown fields are rejected: a typo must not silently do nothing.
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ArgumentError([{"argument_name": k, "reason": "unknown",
                              "help_message": "unknown field"} for k in unknown])


def str_id(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ArgumentError.one(key, "required", f"{key} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > 255:
        raise ArgumentError.one(key, "format", f"{key} must be a non-empty string")
    return value


def integer(body: dict[str, Any], key: str, required: bool = False) -> int | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ArgumentError.one(key, "required", f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError.one(key, "format", f"{key} must be an integer")
    return value


def boolean(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ArgumentError.one(key, "format", f"{key} must be a boolean")
    return value


def name(body: dict[str, Any], default: str | None = None) -> str:
    value = body.get("name")
    if value is None:
        value = default
    if not isinstance(value, str) or not value or len(value) > 255:
        raise ArgumentError.one("name", "constraint", "must be a non-empty string (<= 255)")
    return value


def tags(body: dict[str, Any], default: list[str]) -> list[str]:
    value = body.get("tags", default)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ArgumentError.one("tags", "format", "must be a list of strings")
    return list(value)


def asn(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4294967294:
        raise ArgumentError.one("peer_asn", "constraint", "must be an ASN in 1..4294967294")
    if value == SCW_ASN:
        raise ArgumentError.one("peer_asn", "constraint", "12876 is Scaleway's own ASN")
    return value
