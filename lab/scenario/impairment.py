"""Link impairments (pure): what `fault impair`, a scenario step and a link's `impairments:`
ask for, their ranges and units, and the tag that carries them in the kernel rules.

Values are given as a person writes them: ``20ms`` / ``1s`` / ``500us`` (a bare number is
milliseconds), ``1%`` / ``0.5`` (percent), ``50mbit`` / ``1gbit`` / ``500kbit`` (a bare number
is Mbit/s). An out-of-range or malformed value raises ImpairmentError with one line naming
the field, before anything is changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

DIRECTIONS = ("both", "to-vpc", "to-customer")
SIDES = ("to-vpc", "to-customer")  # what "both" means
FIELDS = ("delay", "jitter", "loss", "corrupt", "duplicate", "rate")
MAX_DELAY_MS = 10_000.0  # 10 s each way: beyond it BGP's hold timer is the only thing left
MAX_RATE_MBIT = 400_000.0  # the largest bandwidth a scenario link may have
MIN_RATE_MBIT = 0.01  # 10 kbit/s: HTB's accuracy ends around there

_TIME = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s)?\s*$")
_PCT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$")
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(kbit|mbit|gbit)?\s*$", re.IGNORECASE)
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, None: 1.0}
_RATE_UNITS = {"kbit": 0.001, "mbit": 1.0, "gbit": 1000.0, None: 1.0}


class ImpairmentError(ValueError):
    """An impairment value that is malformed or out of range (one line)."""


@dataclass(frozen=True)
class Impairment:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    corrupt_pct: float = 0.0
    duplicate_pct: float = 0.0
    rate_mbit: float = 0.0  # 0: the link's own bandwidth only

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    @property
    def queued(self) -> bool:
        """Needs packets held in user space (delay, jitter, corruption)."""
        return bool(self.delay_ms or self.jitter_ms or self.corrupt_pct)

    def to_api(self) -> dict[str, str]:
        """Only the fields set, in the units they are given in (``{"delay": "20ms"}``)."""
        out = {"delay": _ms(self.delay_ms), "jitter": _ms(self.jitter_ms),
               "loss": _pct(self.loss_pct), "corrupt": _pct(self.corrupt_pct),
               "duplicate": _pct(self.duplicate_pct), "rate": _mbit(self.rate_mbit)}
        return {k: v for k, v in out.items() if v}

    def describe(self) -> str:
        return " ".join(f"{k} {v}" for k, v in self.to_api().items()) or "none"

    def tag(self) -> str:
        """The compact form stored in an iptables comment (at most 256 characters)."""
        return ",".join(f"{k}={v}" for k, v in self.to_api().items())


def _num(x: float) -> str:
    return f"{x:.6g}"


def _ms(v: float) -> str:
    return f"{_num(v)}ms" if v else ""


def _pct(v: float) -> str:
    return f"{_num(v)}%" if v else ""


def _mbit(v: float) -> str:
    return f"{_num(v)}mbit" if v else ""


def _value(name: str, raw: object, pattern: re.Pattern[str], units: dict[str | None, float],
           example: str) -> float:
    if isinstance(raw, bool):
        raise ImpairmentError(f"{name}: {raw!r} is not a value (e.g. {example})")
    m = pattern.match(str(raw))
    if not m:
        raise ImpairmentError(f"{name}: {raw!r} is not a value (e.g. {example})")
    unit = m.group(2).lower() if m.lastindex and m.lastindex > 1 and m.group(2) else None
    return float(m.group(1)) * units[unit]


def _in_range(name: str, value: float, lo: float, hi: float, shown: str) -> float:
    if not lo <= value <= hi:
        raise ImpairmentError(f"{name}: {shown} is out of range ({_num(lo)}..{_num(hi)})")
    return value


def parse(values: Mapping[str, object]) -> Impairment:
    """``{"delay": "20ms", "loss": "1%", ...}`` (missing or None: not impaired) -> Impairment.
    At least one value must be set."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ImpairmentError(f"unknown impairment {unknown[0]!r} (known: {', '.join(FIELDS)})")
    got = {k: v for k, v in values.items() if v is not None}
    delay = jitter = loss = corrupt = dup = rate = 0.0
    if "delay" in got:
        delay = _value("delay", got["delay"], _TIME, _TIME_UNITS, "20ms")
        _in_range("delay", delay, 0, MAX_DELAY_MS, str(got["delay"]))
    if "jitter" in got:
        jitter = _value("jitter", got["jitter"], _TIME, _TIME_UNITS, "5ms")
        _in_range("jitter", jitter, 0, MAX_DELAY_MS, str(got["jitter"]))
        if jitter > delay:
            raise ImpairmentError(f"jitter: {got['jitter']} is larger than the delay "
                                  f"({_ms(delay) or '0ms'}): a packet cannot leave early")
    for name in ("loss", "corrupt", "duplicate"):
        if name in got:
            v = _in_range(name, _value(name, got[name], _PCT, {None: 1.0}, "1%"), 0, 100,
                          str(got[name]))
            loss, corrupt, dup = (v if name == "loss" else loss,
                                  v if name == "corrupt" else corrupt,
                                  v if name == "duplicate" else dup)
    if "rate" in got:
        rate = _value("rate", got["rate"], _RATE, _RATE_UNITS, "50mbit")
        _in_range("rate", rate, MIN_RATE_MBIT, MAX_RATE_MBIT, str(got["rate"]))
    imp = Impairment(delay, jitter, loss, corrupt, dup, rate)
    if imp.empty:
        raise ImpairmentError("no impairment given: set at least one of "
                              + ", ".join(f"--{f}" for f in FIELDS))
    return imp


def from_tag(tag: str) -> Impairment:
    """Inverse of ``Impairment.tag`` (a malformed tag raises ImpairmentError)."""
    pairs = dict(p.split("=", 1) for p in tag.split(",") if "=" in p)
    return parse(dict(pairs))


def direction(value: object) -> str:
    if value not in DIRECTIONS:
        raise ImpairmentError(f"direction: {value!r} is not one of {', '.join(DIRECTIONS)}")
    return str(value)


def sides(direction_: str) -> tuple[str, ...]:
    """The directions a ``--direction`` value stands for."""
    return SIDES if direction_ == "both" else (direction_,)
