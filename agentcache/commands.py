"""The sans-I/O protocol between operations and executors.

An operation is a generator: it yields a :data:`Batch` (the commands of one round trip) and is sent
back the replies, one per command, in order; its return value is the operation's result. It does no
I/O itself, so one operation serves the sync and the async facade, and its round-trip cost is the
number of batches it yields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, sent by SHA1 (EVALSHA) and by body only when the server lacks it."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())

    def __call__(self, keys: list[str], *args: object) -> Command:
        return Command(("EVALSHA", self.sha, len(keys), *keys, *args), self)


class Command(NamedTuple):
    """One command: its arguments as sent, and the script it runs, if any."""

    args: tuple[Any, ...]
    script: Script | None = None

    @property
    def name(self) -> str:
        """What error messages call this command."""
        return f"EVALSHA {self.script.name}" if self.script else str(self.args[0])

    def as_eval(self) -> Command:
        """The same script call with the body (EVAL), for a server that does not know the SHA."""
        assert self.script is not None
        return Command(("EVAL", self.script.source, *self.args[2:]), self.script)


Batch = list[Command]
Replies = list[Any]
Operation = Generator[Batch, Replies, T]


def cmd(*args: Any) -> Command:
    """A plain command."""
    return Command(args)


def one(command: Command) -> Generator[Batch, Replies, Any]:
    """Send one command in its own round trip and return its reply: ``x = yield from one(...)``."""
    replies = yield [command]
    return replies[0]
