"""The sans-I/O protocol between operations and executors.

An operation is a generator: it yields a :data:`Batch` (the commands of one round trip) and is sent
back the replies, one per command, in order; its return value is the operation's result. It does no
I/O itself, so one operation serves the sync and the async facade, and its round-trip cost is the
number of batches it yields. A batch that fails is thrown into the operation as ``BackendError``
at its ``yield``, so an operation can clean up (release a lock) before the error goes on.

Besides batches, an operation may yield the other :data:`Step` kinds, which each executor performs
its own way: :class:`Pause` (sleep), :class:`Call` (run the user's function, awaiting it on the
async facade; its exception is thrown into the operation), :class:`Await` (wait for another caller
in this process to land a flight) and :data:`PRIMARIES` (the primary nodes of a cluster, to address
a :class:`Command` to each with ``node=``; ``[None]`` on one server).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Sequence
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

    def __call__(self, keys: list[str] | list[bytes], *args: object) -> Command:
        return Command(("EVALSHA", self.sha, len(keys), *keys, *args), self)


def lua(package: str, file: str, *, name: str | None = None, prelude: str | None = None) -> Script:
    """The script in ``<file>.lua`` of ``package`` (package data, beside the tier that runs it),
    after ``<prelude>.lua`` if given; ``name`` (default: the file's) is what errors call it.

    A script file starts with its flags line (``#!lua flags=...``, see ``docs/memory.md``), which
    the server reads only as the very first line: it stays first, before the prelude."""
    from importlib.resources import files

    folder = files(package)
    source = folder.joinpath(f"{file}.lua").read_text(encoding="utf-8")
    if prelude is not None:
        shebang, body = source.split("\n", 1) if source.startswith("#!") else ("", source)
        before = folder.joinpath(f"{prelude}.lua").read_text(encoding="utf-8")
        source = (shebang + "\n" if shebang else "") + before + body
    return Script(name or file, source)


def without_shebang(source: str) -> str:
    """``source`` with its flags line made a Lua comment (same line numbers), for a Lua runtime
    that does not read flags lines (the in-memory backend's)."""
    return "--" + source if source.startswith("#!") else source


class Command(NamedTuple):
    """One command: its arguments as sent, the script it runs if any, the cluster node it must go to
    (keyless commands such as SCAN, sent alone in their batch; None routes by key), and whether it
    is optional: an error reply of an optional command (statistics, a policy read) becomes ``None``
    instead of failing the operation it rides along with."""

    args: tuple[Any, ...]
    script: Script | None = None
    node: Any = None
    optional: bool = False

    @property
    def name(self) -> str:
        """What error messages call this command."""
        return f"EVALSHA {self.script.name}" if self.script else str(self.args[0])

    def as_eval(self) -> Command:
        """The same script call with the body (EVAL), for a server that does not know the SHA."""
        assert self.script is not None
        return self._replace(args=("EVAL", self.script.source, *self.args[2:]))


class Pause(NamedTuple):
    """Sleep this long (seconds) before going on; the operation is sent ``None``."""

    seconds: float


class Call(NamedTuple):
    """Call ``fn()`` (and await what it returns on the async facade; there ``afn()`` instead if
    given, for work that has a sync and an async form, like a model call); the operation is sent
    its result."""

    fn: Callable[[], Any]
    afn: Callable[[], Any] | None = None


class Open(NamedTuple):
    """In a stream (:meth:`~agentcache.core.executors.SyncExecutor.stream`): start an iterator,
    ``fn()`` (sync) or ``afn()`` (an async iterator, on the async facade); sent back its handle."""

    fn: Callable[[], Any]
    afn: Callable[[], Any]


class Next(NamedTuple):
    """In a stream: the next item of an :class:`Open`-ed handle, or None at its end."""

    handle: Any


class Await(NamedTuple):
    """Wait up to ``timeout`` seconds for ``flight`` (a ``core.flights.Flight``) to land."""

    flight: Any
    timeout: float


class _Primaries:
    def __repr__(self) -> str:
        return "PRIMARIES"


PRIMARIES = _Primaries()
"""Ask for the primary nodes to address commands to (``[None]`` on one server)."""

Batch = list[Command]
Replies = list[Any]
Step = Batch | Pause | Call | Await | _Primaries
Operation = Generator[Step, Any, T]


def cmd(*args: Any, node: Any = None, optional: bool = False) -> Command:
    """A plain command (sent to ``node`` if given, else routed by its key)."""
    return Command(args, None, node, optional)


def one(command: Command) -> Generator[Batch, Replies, Any]:
    """Send one command in its own round trip and return its reply: ``x = yield from one(...)``."""
    replies = yield [command]
    return replies[0]


def scanned(reply: Any) -> tuple[int, list[bytes]]:
    """A SCAN reply as (cursor, keys), from a standalone or a cluster client."""
    cursor, keys = reply
    if isinstance(cursor, dict):  # a cluster client answers per node: {node name: cursor}
        (cursor,) = cursor.values()
    return int(cursor), list(keys)


def scan_all(
    pattern: str, count: int, act: Callable[[list[bytes]], Generator[Step, Any, int]]
) -> Generator[Step, Any, int]:
    """Walk every primary's keys matching ``pattern`` (one SCAN step per round trip) and run the
    operation ``act`` on each step's keys; returns the sum of what ``act`` returned."""
    total = 0
    nodes = yield PRIMARIES
    for node in nodes:
        cursor = 0
        while True:
            cursor, keys = scanned((yield from one(cmd("SCAN", cursor, "MATCH", pattern, "COUNT", count, node=node))))
            if keys:
                total += yield from act(keys)
            if cursor == 0:
                break
    return total


def together(ops: Sequence[Operation[Any]]) -> Operation[list[Any]]:
    """Run operations that only send batches side by side: each round trip carries the next batch
    of every one still running. Returns their results in order."""
    results: list[Any] = [None] * len(ops)
    sends: dict[int, Any] = dict.fromkeys(range(len(ops)))
    while sends:
        batches: dict[int, Batch] = {}
        for i, sent in sends.items():
            try:
                step = ops[i].send(sent)
            except StopIteration as stop:
                results[i] = stop.value
                continue
            assert isinstance(step, list), "operations run together send batches only"
            batches[i] = step
        if not batches:
            break
        replies: Replies = yield [command for batch in batches.values() for command in batch]
        sends, at = {}, 0
        for i, batch in batches.items():
            sends[i] = replies[at : at + len(batch)]
            at += len(batch)
    return results
