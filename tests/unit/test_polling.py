"""lab.control.polling: wait_for / assert_stays and their event-loop twins."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from lab.control.polling import (
    StayViolated,
    WaitTimeout,
    assert_stays,
    assert_stays_async,
    wait_for,
    wait_for_async,
)


def test_wait_for_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, [], {"status": "active"}])
    assert wait_for(lambda: next(answers), "link active", 1, interval=0.001) == {
        "status": "active"}


def test_wait_for_counts_an_exception_as_not_yet() -> None:
    calls = itertools.count()

    def check() -> str:
        if next(calls) < 2:
            raise ConnectionRefusedError("not listening yet")
        return "up"

    assert wait_for(check, "the API", 1, interval=0.001) == "up"


def test_wait_for_timeout_names_what_and_the_last_value() -> None:
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as exc:
        wait_for(lambda: "", "the MD5 diagnosis", 0.1, interval=0.01,
                 detail=lambda: "reason now: 'hold timer expired'")
    assert 0.1 <= time.monotonic() - t0 < 1
    assert str(exc.value) == ("timed out after 0.1s waiting for the MD5 diagnosis "
                              "(last seen: '')\nreason now: 'hold timer expired'")
    assert isinstance(exc.value, AssertionError)  # pytest reports it as a test failure


def test_wait_for_timeout_shows_the_last_exception() -> None:
    def check() -> bool:
        raise KeyError("link-9")

    with pytest.raises(WaitTimeout, match=r"for the link \(last seen: KeyError\('link-9'\)"):
        wait_for(check, "the link", 0.05, interval=0.01)


def test_wait_for_a_failing_detail_does_not_hide_the_timeout() -> None:
    def detail() -> str:
        raise OSError("controller gone")

    with pytest.raises(WaitTimeout, match=r"(?s)waiting for x.*detail unavailable: OSError"):
        wait_for(lambda: False, "x", 0.02, interval=0.01, detail=detail)


def test_assert_stays_polls_for_the_whole_duration() -> None:
    calls = itertools.count(1)
    t0 = time.monotonic()
    assert assert_stays(lambda: next(calls), "still true", 0.1, interval=0.01) >= 5
    assert time.monotonic() - t0 >= 0.1


def test_assert_stays_fails_at_once_with_what_was_seen() -> None:
    answers = iter([True, True, "", True])
    t0 = time.monotonic()
    with pytest.raises(StayViolated) as exc:
        assert_stays(lambda: next(answers), "no route leaked", 10, interval=0.01)
    assert time.monotonic() - t0 < 1  # not the 10 s
    assert str(exc.value).startswith("no route leaked: no longer true after ")
    assert str(exc.value).endswith("of 10s (seen: '')")


def test_assert_stays_fails_on_an_exception() -> None:
    def check() -> bool:
        raise RuntimeError("boom")

    with pytest.raises(StayViolated, match=r"sessions up: check failed after .*RuntimeError"):
        assert_stays(check, "sessions up", 5, interval=0.01)


def test_async_twins_let_the_loop_run() -> None:
    async def main() -> None:
        done = asyncio.Event()
        asyncio.get_running_loop().call_later(0.02, done.set)
        assert await wait_for_async(done.is_set, "the timer", 1, interval=0.005) is True
        # A sync wait_for here would block the loop: the timer could never fire.
        await assert_stays_async(done.is_set, "still set", 0.02, interval=0.005)
        done.clear()
        asyncio.get_running_loop().call_later(0.02, done.set)
        t0 = time.monotonic()
        with pytest.raises(StayViolated, match="never set"):
            await assert_stays_async(lambda: not done.is_set(), "never set", 5, interval=0.005)
        assert time.monotonic() - t0 < 1
        with pytest.raises(WaitTimeout, match="waiting for nothing"):
            await wait_for_async(lambda: None, "nothing", 0.02, interval=0.005)

    asyncio.run(main())
