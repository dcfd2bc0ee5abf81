"""Polling with a deadline: wait until a condition holds, or check that it keeps holding.

``wait_for`` stands for "this happens within N s", ``assert_stays`` for "this never happens
within N s" (a bare sleep followed by one look would miss a change that came and went, and
waits the whole time even when the change shows at once). ``*_async`` are the same for code
running in an event loop (the loop keeps running between polls). Pytest-free, so the scenario
runner can use it; failures are AssertionErrors, which pytest reports as test failures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from typing import TypeVar

T = TypeVar("T")
Detail = Callable[[], str] | None

INTERVAL = 0.05  # seconds between two polls


class WaitTimeout(AssertionError):
    """``wait_for`` gave up: the condition never held."""


class StayViolated(AssertionError):
    """``assert_stays`` saw the condition stop holding."""


def _extra(detail: Detail) -> str:
    if detail is None:
        return ""
    try:
        return f"\n{detail()}"
    except Exception as exc:  # the failure report must not hide the failure
        return f"\n(detail unavailable: {exc!r})"


def _waiting(check: Callable[[], T], what: str, timeout: float,
             detail: Detail) -> Generator[None, None, T]:
    """The loop of ``wait_for`` without the sleeping: yields where a poll interval goes."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
        except Exception as exc:  # not ready yet (API not answering, ...): keep polling
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what} "
                              f"(last seen: {last!r}){_extra(detail)}")
        yield


def _staying(check: Callable[[], T], what: str, duration: float,
             detail: Detail) -> Generator[None, None, T]:
    """The loop of ``assert_stays`` without the sleeping."""
    t0 = time.monotonic()
    while True:
        try:
            value = check()
        except Exception as exc:
            raise StayViolated(f"{what}: check failed after {time.monotonic() - t0:.2f}s "
                               f"of {duration:g}s: {exc!r}{_extra(detail)}") from exc
        if not value:
            raise StayViolated(f"{what}: no longer true after {time.monotonic() - t0:.2f}s "
                               f"of {duration:g}s (seen: {value!r}){_extra(detail)}")
        if time.monotonic() - t0 >= duration:
            return value
        yield


def _run(steps: Generator[None, None, T], interval: float) -> T:
    try:
        while True:
            next(steps)
            time.sleep(interval)
    except StopIteration as done:
        return done.value


async def _run_async(steps: Generator[None, None, T], interval: float) -> T:
    try:
        while True:
            next(steps)
            await asyncio.sleep(interval)
    except StopIteration as done:
        return done.value


def wait_for(check: Callable[[], T], what: str, timeout: float = 15.0, *,
             interval: float = INTERVAL, detail: Detail = None) -> T:
    """Poll ``check`` until it returns a truthy value, and return that value.

    An exception from ``check`` counts as "not yet". After ``timeout`` seconds: WaitTimeout
    naming ``what`` and the last value (or exception) seen, plus ``detail()`` if given."""
    return _run(_waiting(check, what, timeout, detail), interval)


def assert_stays(check: Callable[[], T], what: str, duration: float, *,
                 interval: float = INTERVAL, detail: Detail = None) -> T:
    """Poll ``check`` for ``duration`` seconds; every answer must be truthy.

    The first falsy answer (or exception) raises StayViolated at once, naming ``what`` and
    what was seen. Returns the last value. "X never happens": ``assert_stays(lambda: not x(),
    "no X", 1.0)``."""
    return _run(_staying(check, what, duration, detail), interval)


async def wait_for_async(check: Callable[[], T], what: str, timeout: float = 15.0, *,
                         interval: float = INTERVAL, detail: Detail = None) -> T:
    """``wait_for`` inside an event loop: the loop runs between polls."""
    return await _run_async(_waiting(check, what, timeout, detail), interval)


async def assert_stays_async(check: Callable[[], T], what: str, duration: float, *,
                             interval: float = INTERVAL, detail: Detail = None) -> T:
    """``assert_stays`` inside an event loop: the loop runs between polls."""
    return await _run_async(_staying(check, what, duration, detail), interval)
