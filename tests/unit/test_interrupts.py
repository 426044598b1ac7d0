"""``agentcache.core.interrupts.run``: an error raised after Ctrl-C is the interrupt; any other
error, a cancellation that is not Ctrl-C's among them, stays what it was."""

from __future__ import annotations

import asyncio
import signal

import pytest

from agentcache.core.interrupts import run


async def interrupted_then_fails() -> None:
    signal.raise_signal(signal.SIGINT)  # as a terminal's Ctrl-C, while the code has not awaited yet
    raise ConnectionError("the bundled server died of the same Ctrl-C")


async def cancelled_then_fails() -> None:
    task = asyncio.current_task()
    assert task is not None
    task.cancel()  # someone else's cancellation, pending
    raise ValueError("a real error")


def test_an_error_after_ctrl_c_is_the_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt):
        run(interrupted_then_fails())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as asyncio's runner leaves it


def test_an_error_after_another_cancellation_stays_itself() -> None:
    with pytest.raises(ValueError, match="a real error"):
        run(cancelled_then_fails())


def test_a_result_and_an_error_without_ctrl_c_come_back_as_they_are() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def fails() -> None:
        raise ConnectionError("down")

    assert run(answer()) == 42
    with pytest.raises(ConnectionError, match="down"):
        run(fails())
