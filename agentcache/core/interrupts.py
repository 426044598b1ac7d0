"""Running a command's event loop so that Ctrl-C ends it as an interrupt, whenever it comes.

A terminal sends Ctrl-C to the whole process group, the bundled Valkey server included. asyncio's
runner answers SIGINT by cancelling the main task, which only takes effect at its next ``await``:
if the server dies first (while it starts, while a cluster forms), the connection error it causes
would be reported in place of the interrupt, with a traceback. Here an error raised once SIGINT
has arrived is the interrupt's doing, and ends as ``KeyboardInterrupt``."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> T:
    """``asyncio.run(main)``, where an error raised after Ctrl-C raises ``KeyboardInterrupt``."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_interrupt_wins(main))


async def _interrupt_wins(main: Coroutine[Any, Any, T]) -> T:
    interrupted = False
    runners = signal.getsignal(signal.SIGINT)  # the runner's own handler: it cancels this task
    watching = callable(runners) and threading.current_thread() is threading.main_thread()

    def noted(signum: int, frame: Any) -> Any:
        nonlocal interrupted
        interrupted = True
        assert callable(runners)
        return runners(signum, frame)

    if watching:
        signal.signal(signal.SIGINT, noted)
    try:
        return await main
    except Exception:
        if interrupted:  # the runner cancelled this task for it, and turns this into KeyboardInterrupt
            raise asyncio.CancelledError from None
        raise
    finally:
        if watching and signal.getsignal(signal.SIGINT) is noted:
            signal.signal(signal.SIGINT, runners)
