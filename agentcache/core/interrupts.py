"""Running a command's event loop so that Ctrl-C ends it as an interrupt, whenever it comes.

A terminal sends Ctrl-C to the whole process group, the bundled Valkey server included. asyncio's
runner answers SIGINT by cancelling the main task, which only takes effect at its next ``await``:
if the server dies first (while it starts, while a cluster forms), the connection error it causes
would be reported in place of the interrupt, with a traceback. Here an error raised once the
interrupt is pending is the interrupt's doing, and ends as ``KeyboardInterrupt``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> T:
    """``asyncio.run(main)``, where an error raised after Ctrl-C raises ``KeyboardInterrupt``."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_interrupt_wins(main))


async def _interrupt_wins(main: Coroutine[Any, Any, T]) -> T:
    try:
        return await main
    except Exception:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # the runner's SIGINT handler cancelled this task
            raise asyncio.CancelledError from None  # which the runner turns into KeyboardInterrupt
        raise
