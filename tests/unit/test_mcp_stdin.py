"""The MCP server's stdin lines (``StdinLines``): read from the descriptor by a daemon thread, so
Ctrl-C is not kept waiting for the next line (the process test is in test_cli_first_hour.py)."""

from __future__ import annotations

import asyncio
import os
import threading

from agentcache.agent_tools.mcp_server import StdinLines


async def collect(lines: StdinLines) -> list[str]:
    return [line async for line in lines]


def test_lines_come_whole_across_reads_and_the_last_one_without_a_newline() -> None:
    read, write = os.pipe()
    pieces = [b'{"a": 1}\n{"b": "caf', "é".encode()[:1], "é".encode()[1:] + b'"}\r\n', b"x" * 200_000, b"\n\nlast"]

    def writer() -> None:
        for piece in pieces:
            os.write(write, piece)
        os.close(write)

    threading.Thread(target=writer).start()
    try:
        got = asyncio.run(asyncio.wait_for(collect(StdinLines(read)), 10))
    finally:
        os.close(read)
    assert got == ['{"a": 1}\n', '{"b": "café"}\r\n', "x" * 200_000 + "\n", "\n", "last"]


def test_a_read_that_fails_ends_the_input_instead_of_hanging() -> None:
    unopened = 999_999  # descriptors are handed out lowest first: this one is not open, os.read raises EBADF
    assert asyncio.run(asyncio.wait_for(collect(StdinLines(unopened)), 10)) == []
