"""``agentcache mcp``: the ``session_data`` tool and read-only resources over MCP's stdio transport,
with the official ``mcp`` package (the ``mcp`` extra; ``import agentcache`` never imports it).

- Tool ``session_data``: the agent tool of :mod:`agentcache.agent_tools.session_data`, for one
  thread fixed at start (``--thread``), or, with ``--thread-from-arg``, for the thread named by a
  ``thread_id`` argument on each call (for a trusted client that serves many threads).
- Resource ``session://<thread>``: the thread's fields as JSON (bytes as ``{"$bytes": base64}``);
  with a fixed thread only that thread can be read.
- Resource ``stats://agentcache``: ``cache.stats()`` as JSON.

The stdio transport has no network side: the server is the child process of its MCP client and
answers only it, so there is no address to bind and no token to check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import threading
from typing import Any
from urllib.parse import quote, unquote

from agentcache.agent_tools.session_data import session_data
from agentcache.errors import AgentCacheError, InvalidArgumentError
from agentcache.facade import AsyncAgentCache
from agentcache.tiers.content.messages import to_json_value

SESSION_SCHEME = "session://"
STATS_URI = "stats://agentcache"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("valkey-agentcache")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout that is not installed
        return "0"


def _thread_of(uri: str) -> str:
    if not uri.startswith(SESSION_SCHEME):
        raise InvalidArgumentError(f"unknown resource {uri!r}: read session://<thread> or {STATS_URI}")
    return unquote(uri[len(SESSION_SCHEME) :])


def build_server(cache: AsyncAgentCache, *, thread_id: str | None, allow_user_parts: bool = False) -> Any:
    """The MCP server (``mcp.server.lowlevel.Server``) over ``cache``: one thread when ``thread_id``
    is given, else the thread named by each call's ``thread_id`` argument."""
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    fixed = None if thread_id is None else session_data(cache, thread_id, allow_user_parts=allow_user_parts)
    definition = (fixed or session_data(cache, "any", allow_user_parts=allow_user_parts)).mcp_tool()
    if fixed is None:
        schema = definition["inputSchema"]
        schema["properties"] = {"thread_id": {"type": "string", "description": "the thread"}, **schema["properties"]}
        schema["required"] = ["thread_id", *schema["required"]]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=definition["name"],
                    description=definition["description"],
                    input_schema=definition["inputSchema"],
                )
            ]
        )

    async def call_tool(ctx: Any, params: Any) -> Any:
        arguments = dict(params.arguments or {})
        if params.name != definition["name"]:
            reply: dict[str, Any] = {"status": "error", "error": "unknown_tool", "message": "call session_data"}
        elif fixed is not None:
            reply = await fixed(arguments)
        else:
            thread = arguments.pop("thread_id", None)
            try:
                tool = session_data(cache, thread, allow_user_parts=allow_user_parts)
            except AgentCacheError as exc:
                reply = {"status": "error", "error": "invalid_thread", "message": f"thread_id: {exc}"}
            else:
                reply = await tool(arguments)
        text = json.dumps(reply, ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=reply,
            is_error=reply.get("status") == "error",
        )

    async def list_resources(ctx: Any, params: Any) -> Any:
        resources = [types.Resource(uri=STATS_URI, name="statistics", mime_type="application/json")]
        if thread_id is not None:
            uri = SESSION_SCHEME + quote(thread_id, safe="")
            resources.append(types.Resource(uri=uri, name=f"session {thread_id}", mime_type="application/json"))
        return types.ListResourcesResult(resources=resources)

    async def read_resource(ctx: Any, params: Any) -> Any:
        uri = str(params.uri)
        try:
            if uri == STATS_URI:
                data: Any = dataclasses.asdict(await cache.stats())
            else:
                thread = _thread_of(uri)
                if thread_id is not None and thread != thread_id:
                    raise InvalidArgumentError(f"this server serves the thread {thread_id!r} only")
                data = to_json_value(await cache.session.get_all(thread), uri)
        except InvalidArgumentError as exc:  # the client's mistake: an MCP error, not a traceback on our stderr
            raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from None
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type="application/json")]
        )

    return Server(
        "agentcache",
        version=_version(),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


class StdinLines:
    """The lines of file descriptor ``fd`` (stdin) for the stdio transport, read by a daemon thread
    and awaited from a queue, so Ctrl-C ends the server at once. (The transport's own reader runs
    ``readline`` in a worker thread that a cancellation has to wait for: the command hung until the
    client sent another line or closed stdin.) The thread reads the descriptor itself, holding no
    lock of ``sys.stdin``'s, so it cannot stop the interpreter from exiting."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lines: asyncio.Queue[str | None] | None = None

    def __aiter__(self) -> StdinLines:
        if self._lines is None:
            self._lines = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._read, args=(loop, self._lines), name="mcp-stdin", daemon=True).start()
        return self

    async def __anext__(self) -> str:
        assert self._lines is not None, "iterate with async for"
        line = await self._lines.get()
        if line is None:
            raise StopAsyncIteration
        return line

    def _read(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
        pending = bytearray()
        try:
            try:
                while chunk := os.read(self._fd, 65536):
                    seen = len(pending)
                    pending += chunk
                    if pending.find(b"\n", seen) < 0:
                        continue  # a long line: searched once per read, split once when it ends
                    *whole, rest = pending.split(b"\n")
                    pending = bytearray(rest)
                    for line in whole:
                        loop.call_soon_threadsafe(lines.put_nowait, line.decode("utf-8", errors="replace") + "\n")
                if pending:
                    loop.call_soon_threadsafe(lines.put_nowait, pending.decode("utf-8", errors="replace"))
            except OSError:  # stdin failed (a hung-up terminal, a closed descriptor): end the input
                pass
            loop.call_soon_threadsafe(lines.put_nowait, None)  # end of input: the server stops
        except RuntimeError:  # the loop closed: nothing is waiting
            return


async def serve(url: str | None, *, thread_id: str | None, allow_user_parts: bool = False) -> None:
    """Serve over stdio until the client closes the connection (``url`` None: the bundled server)."""
    from mcp.server.stdio import stdio_server

    cache = AsyncAgentCache.embedded() if url is None else AsyncAgentCache.from_url(url)
    async with cache:
        server = build_server(cache, thread_id=thread_id, allow_user_parts=allow_user_parts)
        lines: Any = StdinLines(sys.stdin.fileno())  # what the transport iterates (typed as an AsyncFile)
        async with stdio_server(stdin=lines) as (read, write):
            await server.run(read, write, server.create_initialization_options())
