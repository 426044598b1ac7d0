"""LlamaIndex: the chat store against what llama-index-core's own tests check of ``SimpleChatStore``,
and a real ``SimpleChatEngine`` over ``ChatMemoryBuffer`` run twice against the loopback model
server (sync on an AgentCache, async on an AsyncAgentCache), on every server topology.

The engine's LLM is a small ``CustomLLM`` that sends the chat to the loopback server with the
``openai`` client: LlamaIndex's own OpenAI LLM package pins ``openai<3``, which the OpenAI Agents SDK
(extra ``openai-agents``) cannot share a virtualenv with."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    ImageBlock,
    LLMMetadata,
    TextBlock,
)
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import CustomLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.storage.chat_store import BaseChatStore
from openai import AsyncOpenAI, OpenAI

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError, Message
from agentcache.integrations.llama_index import AgentCacheChatStore
from agentcache.testing import unique_prefix
from tests.fake_models import FakeModelServer

on_session_loop = pytest.mark.asyncio(loop_scope="session")  # the same loop as the cache fixture's

ASYNC_NAMES = {
    "set_messages": "aset_messages",
    "get_messages": "aget_messages",
    "add_message": "async_add_message",
    "delete_messages": "adelete_messages",
    "delete_message": "adelete_message",
    "delete_last_message": "adelete_last_message",
    "get_keys": "aget_keys",
}


class _LoopbackLLM(CustomLLM):
    """A chat model on the loopback server's OpenAI Chat Completions API."""

    base_url: str

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="gpt-fake", is_chat_model=True)

    def _request(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        return {"model": "gpt-fake", "messages": [{"role": m.role.value, "content": m.content} for m in messages]}

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        reply = OpenAI(base_url=self.base_url, api_key="test").chat.completions.create(**self._request(messages))
        return ChatResponse(message=ChatMessage(role="assistant", content=reply.choices[0].message.content))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        client = AsyncOpenAI(base_url=self.base_url, api_key="test")
        reply = await client.chat.completions.create(**self._request(messages))
        return ChatResponse(message=ChatMessage(role="assistant", content=reply.choices[0].message.content))

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=str(self.chat([ChatMessage(role="user", content=prompt)]).message.content))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        raise NotImplementedError


def _user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def _calls(store: AgentCacheChatStore, mode: str) -> Callable[..., Awaitable[Any]]:
    """``call(name, *args)``: the store's sync method of that name, or its async twin."""

    async def call(name: str, *args: Any) -> Any:
        if mode == "sync":
            return getattr(store, name)(*args)
        return await getattr(store, ASYNC_NAMES[name])(*args)

    return call


@on_session_loop
async def test_the_simple_chat_store_contract(framework_cache: Any) -> None:
    """What llama-index-core's tests check of SimpleChatStore, through the sync methods (an
    AgentCache) and the async ones (either facade). Keys name conversations, whatever store uses them."""
    modes = ["async", "sync"] if isinstance(framework_cache, AgentCache) else ["async"]
    for mode in modes:
        store = AgentCacheChatStore(framework_cache, agent_id=f"li-{mode}")
        assert isinstance(store, BaseChatStore)
        call = _calls(store, mode)
        user1, user2, user3 = (f"{mode}/user{n}" for n in (1, 2, 3))
        for key in (user1, user2):
            await call("add_message", key, _user("hello"))
            await call("add_message", key, _user("world"))
        assert await call("get_messages", user1) == [_user("hello"), _user("world")]
        assert await call("get_messages", user2) == [_user("hello"), _user("world")]
        assert sorted(await call("get_keys")) == [user1, user2]

        assert await call("delete_messages", user1) == [_user("hello"), _user("world")]
        assert await call("get_messages", user1) == []
        assert await call("get_keys") == [user2]
        assert await call("delete_messages", user1) is None

        assert await call("delete_last_message", user2) == _user("world")
        assert await call("get_messages", user2) == [_user("hello")]
        assert await call("delete_last_message", user2) == _user("hello")
        assert await call("delete_last_message", user2) is None, "an existing, empty history"

        await call("set_messages", user3, [_user("a"), _user("b"), _user("c")])
        assert await call("delete_message", user3, 0) == _user("a")
        assert await call("delete_message", user3, -1) == _user("c")
        assert await call("delete_message", user3, -2) is None, "out of bounds"
        assert await call("delete_message", user3, 1) is None
        assert await call("get_messages", user3) == [_user("b")]
        await call("set_messages", user3, [])
        assert await call("get_messages", user3) == []
        assert user3 in await call("get_keys"), "set to no messages: the key stays"


@on_session_loop
async def test_messages_keep_their_blocks_roles_and_kwargs(framework_cache: Any) -> None:
    store = AgentCacheChatStore(framework_cache, user_id="ada")
    sent = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", blocks=[TextBlock(text="look ハロー"), ImageBlock(image=b"\x89PNG\x00\xff")]),
        ChatMessage(role="assistant", content="", additional_kwargs={"tool_calls": [{"id": "c1", "name": "f"}]}),
        ChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": "c1"}),
    ]
    for message in sent:
        await store.async_add_message("k", message)
    got = await AgentCacheChatStore(framework_cache, user_id="ada").aget_messages("k")
    assert got == sent, "another worker reads the same messages"
    image = got[1].blocks[1]
    assert isinstance(image, ImageBlock) and image.image == sent[1].blocks[1].image  # type: ignore[union-attr]
    stored: list[Message] = await _maybe((await _maybe(framework_cache.conversations.get("k"))).messages())
    assert [m.role for m in stored] == ["system", "user", "assistant", "tool"]


@on_session_loop
async def test_concurrent_replaces_leave_one_whole_history(framework_cache: Any) -> None:
    stores = [AgentCacheChatStore(framework_cache) for _ in range(4)]
    histories = [[_user(f"w{i}-{n}") for n in range(3)] for i in range(4)]
    await asyncio.gather(*(s.aset_messages("race", h) for s, h in zip(stores, histories, strict=True)))
    assert await stores[0].aget_messages("race") in histories, "one writer's history, whole"


@on_session_loop
async def test_round_trips_once_open(framework_cache: Any) -> None:
    store = AgentCacheChatStore(framework_cache)
    for _ in range(2):  # the first starts the conversation; each script is loaded on its node once
        await store.async_add_message("rt", _user("warm"))
    await store.aget_messages("rt")
    for method, args in (
        ("async_add_message", ("rt", _user("x"))),
        ("aget_messages", ("rt",)),
        ("adelete_last_message", ("rt",)),
    ):
        before = framework_cache.round_trips
        await getattr(store, method)(*args)
        assert framework_cache.round_trips - before == 1, method


@on_session_loop
async def test_keys_are_isolated_and_listed_per_owner(framework_cache: Any) -> None:
    mine, theirs = AgentCacheChatStore(framework_cache), AgentCacheChatStore(framework_cache, agent_id="other")
    for key in ("a", "a:b", "a*"):
        await mine.async_add_message(key, _user(f"for {key}"))
    await theirs.async_add_message("b", _user("theirs"))
    assert [m.content for m in await mine.aget_messages("a")] == ["for a"]
    assert [m.content for m in await mine.aget_messages("a:b")] == ["for a:b"]
    assert sorted(await mine.aget_keys()) == ["a", "a*", "a:b"]
    assert await theirs.aget_keys() == ["b"]


@on_session_loop
async def test_bad_input_is_refused_before_anything_is_sent(framework_cache: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheChatStore("valkey://localhost")  # type: ignore[arg-type]
    store = AgentCacheChatStore(framework_cache)
    before = framework_cache.round_trips
    with pytest.raises(InvalidArgumentError, match="ChatMessage"):
        await store.async_add_message("k", {"role": "user", "content": "hi"})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="list of LlamaIndex ChatMessage"):
        await store.aset_messages("k", _user("one"))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="idx must be an int"):
        await store.adelete_message("k", "0")  # type: ignore[arg-type]
    assert framework_cache.round_trips == before
    if isinstance(framework_cache, AsyncAgentCache):
        with pytest.raises(InvalidArgumentError, match="aget_messages"):
            store.get_messages("k")
    log = framework_cache.conversations.log("plain", agent_id="a", user_id="u")
    await _maybe(log.append([Message.user("not LlamaIndex's")]))
    with pytest.raises(InvalidArgumentError, match="not LlamaIndex ChatMessages"):
        await store.aget_messages("plain")


@pytest.fixture(params=["standalone", "cluster", "cluster3"])
def sync_cache(request: pytest.FixtureRequest, server_urls: Callable[[str], str]) -> Iterator[AgentCache]:
    with AgentCache.from_url(server_urls(request.param), prefix=unique_prefix()) as made:
        yield made


def test_a_replace_orders_itself_with_a_concurrent_append_or_replace(
    sync_cache: AgentCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer acts between a replace's delete and its create (the facade's create is wrapped
    to let it): an append is dropped as if it came first; another replace stands as if it came later."""
    store, other = AgentCacheChatStore(sync_cache), AgentCacheChatStore(sync_cache)
    create = sync_cache.conversations.create

    def after(meanwhile: Callable[[], None]) -> None:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(sync_cache.conversations, "create", create)
            meanwhile()
            return create(*args, **kwargs)

        monkeypatch.setattr(sync_cache.conversations, "create", wrapped)

    after(lambda: other.add_message("k", _user("appended meanwhile")))
    store.set_messages("k", [_user("mine")])
    assert store.get_messages("k") == [_user("mine")]

    after(lambda: other.set_messages("k", [_user("theirs")]))
    store.set_messages("k", [_user("mine again")])
    assert store.get_messages("k") == [_user("theirs")]
    store.add_message("k", _user("then"))
    assert other.get_messages("k") == [_user("theirs"), _user("then")]


def _engine(store: AgentCacheChatStore, key: str, fake_models: FakeModelServer) -> SimpleChatEngine:
    llm = _LoopbackLLM(base_url=fake_models.openai_url)
    memory = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key=key, llm=llm)
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory)


def test_a_chat_engine_runs_twice_and_the_second_run_sees_the_first(
    sync_cache: AgentCache, fake_models: FakeModelServer
) -> None:
    fake_models.reset()
    fake_models.delay = 0
    store = AgentCacheChatStore(sync_cache, user_id="ada", timeout=600)
    assert str(_engine(store, "chat-1", fake_models).chat("my name is Ada")) == "heard: my name is Ada"
    other_worker = _engine(AgentCacheChatStore(sync_cache, user_id="ada"), "chat-1", fake_models)
    assert str(other_worker.chat("what is my name?")) == "heard: my name is Ada | what is my name?"
    assert [m.role.value for m in store.get_messages("chat-1")] == ["user", "assistant", "user", "assistant"]
    assert [c.id for c in sync_cache.conversations.list_active(user_id="ada")] == ["chat-1"]


@on_session_loop
async def test_an_async_chat_engine_runs_twice(server_urls: Callable[[str], str], fake_models: FakeModelServer) -> None:
    fake_models.reset()
    fake_models.delay = 0
    async with AsyncAgentCache.from_url(server_urls("cluster3"), prefix=unique_prefix()) as acache:
        reply = await _engine(AgentCacheChatStore(acache), "chat-2", fake_models).achat("my name is Ada")
        assert str(reply) == "heard: my name is Ada"
        again = await _engine(AgentCacheChatStore(acache), "chat-2", fake_models).achat("who am I?")
        assert str(again) == "heard: my name is Ada | who am I?"


async def _maybe(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value
