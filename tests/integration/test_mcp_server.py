"""The MCP server, driven by the mcp package's own client over stdio against a bundled server."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from agentcache import AgentCache
from agentcache.testing import unique_prefix


async def session_with(url: str, *args: str, errlog: Any = sys.stderr) -> Any:
    params = StdioServerParameters(command=sys.executable, args=["-m", "agentcache.cli", "mcp", "--url", url, *args])
    return stdio_client(params, errlog=errlog)


def test_tools_resources_and_every_action(server_urls: Any, tmp_path: Path) -> None:
    url = server_urls("cluster")
    thread = f"mcp-{unique_prefix()}"
    errlog = (tmp_path / "stderr").open("w")

    async def main() -> None:
        async with (
            await session_with(url, "--thread", thread, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            tools = (await client.list_tools()).tools
            assert [t.name for t in tools] == ["session_data"]
            assert tools[0].input_schema["properties"]["action"]["enum"] == ["set", "get", "delete", "list", "clear"]

            async def call(arguments: dict[str, Any]) -> dict[str, Any]:
                result = await client.call_tool("session_data", arguments)
                reply: dict[str, Any] = json.loads(result.content[0].text)  # type: ignore[union-attr]
                assert result.is_error == (reply["status"] == "error")
                return reply

            assert (await call({"action": "set", "key": "user_name", "value": "Alice"}))["status"] == "success"
            assert (await call({"action": "get", "key": "user_name"}))["value"] == "Alice"
            assert [k["key"] for k in (await call({"action": "list"}))["keys"]] == ["user_name"]
            assert (await call({"action": "bogus"}))["error"] == "unknown_action"
            uris = [str(r.uri) for r in (await client.list_resources()).resources]
            assert uris == ["stats://agentcache", f"session://{thread}"]
            content = (await client.read_resource(f"session://{thread}")).contents[0]
            assert json.loads(content.text) == {"user_name": "Alice"}  # type: ignore[union-attr]
            stats = json.loads((await client.read_resource("stats://agentcache")).contents[0].text)  # type: ignore[union-attr]
            assert "session" in stats and "tool" in stats
            with pytest.raises(Exception, match="serves the thread"):
                await client.read_resource("session://another-thread")
            assert (await call({"action": "delete", "key": "user_name"}))["deleted"] is True
            assert (await call({"action": "clear"}))["removed"] == 0

    asyncio.run(main())
    errlog.close()
    assert "Traceback" not in (tmp_path / "stderr").read_text()  # a client's mistake is the client's error only
    with AgentCache.from_url(url) as cache:  # the server wrote the library's own session state
        assert cache.session.get_all(thread) == {}


def test_thread_from_arg(server_urls: Any) -> None:
    url = server_urls("cluster")
    thread = f"mcp-{unique_prefix()}"

    async def main() -> None:
        async with await session_with(url, "--thread-from-arg") as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            schema = (await client.list_tools()).tools[0].input_schema
            assert schema["required"] == ["thread_id", "action"]
            result = await client.call_tool(
                "session_data", {"thread_id": thread, "action": "set", "key": "k", "value": 1}
            )
            assert json.loads(result.content[0].text)["status"] == "success"  # type: ignore[union-attr]
            bad = await client.call_tool("session_data", {"thread_id": "", "action": "list"})
            assert json.loads(bad.content[0].text)["error"] == "invalid_thread"  # type: ignore[union-attr]

    asyncio.run(main())
    with AgentCache.from_url(url) as cache:
        assert cache.session.get_all(thread) == {"k": 1}
        cache.session.destroy_thread(thread)
