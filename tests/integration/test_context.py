"""Context assembly (``conv.context``) on every topology and both facades, and its conversions
checked against the model SDKs' own request types."""

from __future__ import annotations

from typing import Any

from agentcache import (
    DataPart,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
)
from tests.helpers import cost, new

PNG = b"\x89PNG\r\n\x1a\n\x00\x01"


def dialogue(cache: Any, **kwargs: Any) -> Any:
    conv = new(cache, system="You plan trips.", **kwargs)
    conv.add_messages(
        [
            Message.user("Japan in April?"),
            Message.assistant("Let me look.", tool_calls=[ToolCallPart(id="c1", name="search", arguments={"q": "JP"})]),
            Message.tool("c1", {"hits": 3}),
            Message.assistant("Cherry blossoms peak then."),
            Message.user("Book Kyoto", ImagePart(data=PNG, mime_type="image/png", name="map.png")),
        ]
    )
    return conv


def test_the_system_prompt_with_dynamic_sections(cache: Any) -> None:
    conv = dialogue(cache)
    ctx = conv.context(dynamic_sections={"page": "Page 3 of 7", "answers": {"q2": "b", "q1": ["a", 1]}})
    assert ctx.system == 'You plan trips.\n\n## page\nPage 3 of 7\n\n## answers\n{"q1": ["a", 1], "q2": "b"}'
    assert conv.context(system="Override.").system == "Override."
    assert conv.context().system == "You plan trips."
    assert [m.role for m in conv.context().messages] == ["user", "assistant", "tool", "assistant", "user"]


def test_trimming_by_count_and_characters_never_orphans_a_tool_result(cache: Any) -> None:
    conv = dialogue(cache)
    assert [m.role for m in conv.context(limit=3).messages] == ["assistant", "user"]  # the tool result's call fell out
    assert [m.role for m in conv.context(limit=4).messages] == ["assistant", "tool", "assistant", "user"]
    assert [m.text for m in conv.context(max_chars=len("Book Kyoto")).messages] == ["Book Kyoto"]
    assert conv.context(max_chars=0).messages == []


def test_pending_user_parts_ride_along_on_the_last_user_message(cache: Any) -> None:
    conv = dialogue(cache)
    cache.session.set_user_part(conv.id, "dom", DataPart(data={"url": "https://example.com"}))
    cache.session.set_user_part(conv.id, "shot", ImagePart(data=PNG, mime_type="image/png", save=False))
    last = conv.context().messages[-1]
    assert last.parts[-2:] == [
        DataPart(data={"url": "https://example.com"}),
        ImagePart(data=PNG, mime_type="image/png", save=False),
    ]
    assert set(cache.session.user_parts(conv.id)) == {"dom", "shot"}  # still pending: context only reads
    assert len(conv.messages()[-1].parts) == 2  # and nothing was stored


def test_parts_start_a_user_message_when_there_is_none(cache: Any) -> None:
    conv = new(cache)
    cache.session.set_user_part(conv.id, "note", "hello from the app")
    assert conv.context().messages == [Message(role="user", parts=[TextPart(text="hello from the app")])]


def test_context_costs_one_round_trip(cache: Any) -> None:
    conv = dialogue(cache)
    cache.session.set_user_part(conv.id, "note", "x")
    conv.context()  # the server learns the scripts
    assert cost(cache, lambda: conv.context(dynamic_sections={"a": 1}, limit=2)) == 1
