"""The session_data agent tool: every action and every error on both facades and every topology,
its definitions against the SDKs' own types, and a property test that no sequence of calls reaches
another thread or any key outside its own."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcache import AgentCache, InvalidArgumentError, InvalidNameError
from agentcache.agent_tools import session_data
from agentcache.testing import unique_prefix
from tests.helpers import cost


def tool_for(cache: Any, thread: str = "t", **options: Any) -> Any:
    """The tool on the cache behind the suite's fixture (the async one through Synced)."""
    target = cache._target if type(cache).__name__ == "Synced" else cache
    made = session_data(target, thread, **options)
    if type(cache).__name__ == "Synced":
        return lambda arguments: cache._loop.run_until_complete(made(arguments))
    return made


def test_every_action(cache: Any) -> None:
    tool = tool_for(cache)
    assert tool({"action": "set", "key": "user_name", "value": "Alice"}) == {
        "status": "success",
        "message": "Stored data for key 'user_name'",
        "key": "user_name",
        "value": "Alice",
    }
    assert (
        tool('{"action": "set", "key": "prefs", "value": {"drink": "coffee", "n": [1, 2.5, null]}, "ttl": 60}')[
            "status"
        ]
        == "success"
    )
    assert tool({"action": "get", "key": "prefs"}) == {
        "status": "success",
        "key": "prefs",
        "value": {"drink": "coffee", "n": [1, 2.5, None]},
        "found": True,
    }
    assert tool({"action": "get", "key": "missing"})["found"] is False
    listed = tool({"action": "list"})
    assert [k["key"] for k in listed["keys"]] == ["prefs", "user_name"] and listed["count"] == 2
    assert 59 < listed["keys"][0]["ttl"] <= 60 and listed["keys"][1]["ttl"] > 1000  # the tier's default
    assert cache.session.get_all("t") == {"prefs": {"drink": "coffee", "n": [1, 2.5, None]}, "user_name": "Alice"}
    assert tool({"action": "delete", "key": "user_name"})["deleted"] is True
    assert tool({"action": "delete", "key": "user_name"})["deleted"] is False
    assert tool({"action": "clear"})["removed"] == 1
    assert tool({"action": "list"})["keys"] == []


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ("not json", "invalid_arguments"),
        ("[1, 2]", "invalid_arguments"),
        (42, "invalid_arguments"),
        ({"action": "get", "key": "a", "extra": 1}, "invalid_arguments"),
        ({}, "missing_action"),
        ({"action": None}, "missing_action"),
        ({"action": "fly"}, "unknown_action"),
        ({"action": ["set"]}, "unknown_action"),
        ({"action": "get"}, "missing_key"),
        ({"action": "delete", "key": None}, "missing_key"),
        ({"action": "get", "key": ""}, "invalid_key"),
        ({"action": "get", "key": 7}, "invalid_key"),
        ({"action": "get", "key": "k" * 257}, "invalid_key"),
        ({"action": "get", "key": "\ud800"}, "invalid_key"),
        ({"action": "set", "key": "__user_part_x", "value": 1}, "reserved_key"),
        ({"action": "get", "key": "__user_part_x"}, "reserved_key"),
        ({"action": "set", "key": "k"}, "missing_value"),
        ({"action": "set", "key": "k", "value": float("nan")}, "invalid_value"),
        ({"action": "set", "key": "k", "value": {1, 2}}, "invalid_value"),
        ({"action": "set", "key": "k", "value": "x" * 70_000}, "value_too_large"),
        ({"action": "set", "key": "k", "value": 1, "ttl": 0}, "invalid_ttl"),
        ({"action": "set", "key": "k", "value": 1, "ttl": "soon"}, "invalid_ttl"),
        ({"action": "set", "key": "k", "value": 1, "ttl": True}, "invalid_ttl"),
    ],
)
def test_every_bad_call_is_an_error_reply(cache: Any, arguments: Any, code: str) -> None:
    before = cache.round_trips
    reply = tool_for(cache)(arguments)
    assert reply["status"] == "error" and reply["error"] == code, reply
    assert isinstance(reply["message"], str) and reply["message"]
    assert cache.round_trips == before  # refused before anything was sent


def test_the_key_quota(cache: Any) -> None:
    tool = tool_for(cache, max_keys=2)
    assert tool({"action": "set", "key": "a", "value": 1})["status"] == "success"
    assert tool({"action": "set", "key": "b", "value": 2})["status"] == "success"
    reply = tool({"action": "set", "key": "c", "value": 3})
    assert reply["error"] == "too_many_keys" and "delete" in reply["message"]
    assert tool({"action": "set", "key": "a", "value": 9})["status"] == "success"  # overwriting is fine


def test_user_parts_when_allowed(cache: Any) -> None:
    conv = cache.conversations.create(agent_id="a", user_id="u")
    tool = tool_for(cache, conv.id, allow_user_parts=True)
    assert tool({"action": "set", "key": "__user_part_note", "value": "the user pressed save"})["status"] == "success"
    assert tool({"action": "get", "key": "__user_part_note"})["value"] == [
        True,
        {"save": True, "type": "text", "text": "the user pressed save"},
    ]  # the stored form
    assert [p.type for p in cache.session.user_parts(conv.id).values()] == ["text"]
    from agentcache import Message

    conv.add_message(Message.user("done"))
    assert conv.messages()[-1].text == "done\nthe user pressed save"
    assert tool({"action": "set", "key": "__user_part_d", "value": {"x": 1}})["status"] == "success"
    assert tool({"action": "delete", "key": "__user_part_d"})["deleted"] is True


def test_a_backend_failure_is_a_distinct_error() -> None:
    import asyncio

    from agentcache import AsyncAgentCache

    for cluster in (None, False):  # the first call's connection check, then an operation's own round trip
        with AgentCache.from_url("valkey://127.0.0.1:1", socket_connect_timeout=0.5, cluster=cluster) as cache:
            reply = session_data(cache, "t")({"action": "list"})
        assert reply["status"] == "error" and reply["error"] == "backend_unavailable"

    async def main() -> dict[str, Any]:
        async with AsyncAgentCache.from_url("valkey://127.0.0.1:1", socket_connect_timeout=0.5) as cache:
            result: dict[str, Any] = await session_data(cache, "t")({"action": "get", "key": "k"})
            return result

    assert asyncio.run(main())["error"] == "backend_unavailable"


def test_making_the_tool_checks_its_options() -> None:
    with AgentCache.in_memory() as cache:
        with pytest.raises(InvalidNameError):
            session_data(cache, "")
        with pytest.raises(InvalidArgumentError):
            session_data(cache, "t", max_keys=0)
        tool = session_data(cache, "t")
        assert tool.name == "session_data" and tool.thread_id == "t"


def test_round_trips_per_action(cache: Any) -> None:
    tool = tool_for(cache)
    warm = (
        {"action": "set", "key": "w", "value": 1},
        {"action": "get", "key": "w"},
        {"action": "list"},
        {"action": "clear"},
    )
    for arguments in warm:
        tool(arguments)  # the server learns the scripts
    spent = {
        action: cost(cache, lambda a=arguments: tool(a))
        for action, arguments in [
            ("set", {"action": "set", "key": "k", "value": 1}),
            ("get", {"action": "get", "key": "k"}),
            ("list", {"action": "list"}),
            ("delete", {"action": "delete", "key": "k"}),
            ("clear", {"action": "clear"}),
        ]
    }
    assert spent["set"] == 1  # the quota's count is inside the script call, on every topology
    if cache.topology != "standalone":  # a standalone server's SCAN takes a step per COUNT keys of the keyspace
        assert spent == {"set": 1, "get": 1, "list": 1, "delete": 1, "clear": 1}


# --- definitions -------------------------------------------------------------------------------------


def test_definitions_against_the_sdks() -> None:
    from pydantic import TypeAdapter

    with AgentCache.in_memory() as cache:
        tool = session_data(cache, "t")
    openai = pytest.importorskip("openai")
    definition = tool.openai_tool()
    assert TypeAdapter(openai.types.chat.ChatCompletionToolParam).validate_python(definition) == definition
    anthropic = pytest.importorskip("anthropic")
    assert TypeAdapter(anthropic.types.ToolParam).validate_python(tool.anthropic_tool())["name"] == "session_data"
    mcp = tool.mcp_tool()
    assert mcp["inputSchema"]["required"] == ["action"] and mcp["inputSchema"]["properties"]["action"]["enum"] == [
        "set",
        "get",
        "delete",
        "list",
        "clear",
    ]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(tool.parameters)
    jsonschema.validate({"action": "set", "key": "a", "value": [1]}, tool.parameters)


# --- isolation --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
keys = st.text(max_size=12) | st.sampled_from(["*", "?", "[a]", "{t}", "t:x", "__user_part_a", "%", "\\", ""])
calls = st.fixed_dictionaries(
    {"action": st.sampled_from(["set", "get", "delete", "list", "clear", "bogus"])},
    optional={"key": keys, "value": json_values, "ttl": st.sampled_from([1, 60, 0, -1, "x"])},
)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(calls, max_size=8))
def test_no_sequence_of_calls_reaches_another_thread(server_urls: Any, sequence: list[dict[str, Any]]) -> None:
    prefix = unique_prefix()
    with AgentCache.from_url(server_urls("cluster"), prefix=prefix) as cache:
        cache.session.set("t:x", "secret", "other thread")  # threads whose names a key could mimic
        cache.session.set("t*", "secret", "other thread")
        tool = session_data(cache, "t")
        for arguments in sequence:
            reply = tool(arguments)
            assert reply["status"] in ("success", "error")
            assert "other thread" not in repr(reply)
        client = cache.client
        mine = f"{prefix}:session:{{t}}:".encode()
        for key in client.scan_iter(match=f"{prefix}*".encode(), count=1000):
            assert key.startswith(mine) or key in (
                cache.session.key("t:x", "secret").encode(),
                cache.session.key("t*", "secret").encode(),
            ), key
        assert cache.session.get("t:x", "secret") == "other thread"
        assert cache.session.get("t*", "secret") == "other thread"
        cache.session.destroy_thread("t")
