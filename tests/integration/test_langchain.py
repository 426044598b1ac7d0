"""LangChain: the chat message history and the LLM cache, with LangChain's own types, a real
``RunnableWithMessageHistory`` chain run twice, and LangChain's fake chat model behind the cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import Generation
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError
from agentcache.integrations.langchain import AgentCacheChatMessageHistory, AgentCacheLLMCache
from agentcache.testing import unique_prefix


@pytest.fixture
def cache(url: str) -> Iterator[AgentCache]:
    with AgentCache.from_url(url, prefix=unique_prefix()) as made:
        yield made


def test_history_is_a_langchain_history_and_keeps_every_message_type(cache: AgentCache) -> None:
    history = AgentCacheChatMessageHistory("h1", cache)
    assert isinstance(history, BaseChatMessageHistory)
    assert history.messages == []
    sent = [
        SystemMessage("be brief"),
        HumanMessage("hi", id="m1"),
        AIMessage("hello", tool_calls=[{"name": "lookup", "args": {"q": 1}, "id": "c1"}]),
        ToolMessage("42", tool_call_id="c1"),
    ]
    history.add_messages(sent)
    history.add_user_message("and then?")
    got = history.messages
    assert got == [*sent, HumanMessage("and then?")]
    assert isinstance(got[2], AIMessage) and got[2].tool_calls[0]["args"] == {"q": 1}
    assert AgentCacheChatMessageHistory("h1", cache).messages == got, "another worker reads the same history"
    history.clear()
    assert history.messages == []


async def test_async_history_on_both_facades(url: str) -> None:
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as acache:
        history = AgentCacheChatMessageHistory("h2", acache)
        await history.aadd_messages([HumanMessage("a"), AIMessage("b")])
        assert await history.aget_messages() == [HumanMessage("a"), AIMessage("b")]
        with pytest.raises(InvalidArgumentError, match="aget_messages"):
            _ = history.messages
        await history.aclear()
        assert await history.aget_messages() == []
    with AgentCache.from_url(url, prefix=unique_prefix()) as cache:
        synced = AgentCacheChatMessageHistory("h3", cache)
        await synced.aadd_messages([HumanMessage("c")])
        assert await synced.aget_messages() == [HumanMessage("c")]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # LangChain steers to LangGraph; still its history API
def test_a_chain_with_message_history_sees_the_first_turn(cache: AgentCache) -> None:
    def model(prompt: PromptValue) -> AIMessage:
        texts = [str(m.content) for m in prompt.to_messages()]
        return AIMessage(f"saw {len(texts)}: " + " | ".join(texts))

    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{input}")])
    chain = RunnableWithMessageHistory(
        prompt | RunnableLambda(model),
        lambda session_id: AgentCacheChatMessageHistory(session_id, cache, user_id="ada"),
        input_messages_key="input",
        history_messages_key="history",
    )
    config: Any = {"configurable": {"session_id": "chain-1"}}
    assert chain.invoke({"input": "my name is Ada"}, config).content == "saw 1: my name is Ada"
    second = chain.invoke({"input": "who am I?"}, config).content
    assert second == "saw 3: my name is Ada | saw 1: my name is Ada | who am I?"
    assert len(AgentCacheChatMessageHistory("chain-1", cache).messages) == 4
    assert [c.id for c in cache.conversations.list_active(user_id="ada")] == ["chain-1"]


def test_llm_cache_serves_the_second_call(cache: AgentCache) -> None:
    llm_cache = AgentCacheLLMCache(cache)
    model = FakeListChatModel(responses=["first answer", "second answer"], cache=llm_cache)
    assert model.invoke("what is 2+2?").content == "first answer"
    assert model.invoke("what is 2+2?").content == "first answer", "served by the cache"
    assert model.invoke("something else").content == "second answer"
    stats = cache.stats().llm
    assert (stats.hits, stats.misses, stats.writes) == (1, 2, 2)
    other_worker = FakeListChatModel(responses=["first answer", "second answer"], cache=AgentCacheLLMCache(cache))
    assert other_worker.invoke("what is 2+2?").content == "first answer"
    assert other_worker.i == 0, "another worker's model (same parameters) was not called"
    llm_cache.clear()
    assert llm_cache.lookup("what is 2+2?", "anything") is None
    assert model.invoke("what is 2+2?").content == "first answer"  # the fake model cycles back to its first


async def test_llm_cache_async(url: str) -> None:
    async with AsyncAgentCache.from_url(url, prefix=unique_prefix()) as acache:
        model = FakeListChatModel(responses=["one", "two"], cache=AgentCacheLLMCache(acache))
        assert (await model.ainvoke("q")).content == "one"
        assert (await model.ainvoke("q")).content == "one"
        with pytest.raises(InvalidArgumentError, match="ainvoke"):
            model.invoke("q")


def test_llm_cache_keeps_plain_generations_and_their_info(cache: AgentCache) -> None:
    llm_cache = AgentCacheLLMCache(cache, ttl=60)
    llm_cache.update("p", "llm-params", [Generation(text="plain", generation_info={"finish_reason": "stop"})])
    assert llm_cache.lookup("p", "llm-params") == [Generation(text="plain", generation_info={"finish_reason": "stop"})]
    assert llm_cache.lookup("p", "other-params") is None
    assert 0 < cache.llm.check({"model": "langchain", "llm": "llm-params", "prompt": "p"}).ttl <= 60  # type: ignore[operator]


def test_a_sampled_request_is_not_cached_when_the_cache_says_so(url: str) -> None:
    with AgentCache.from_url(url, prefix=unique_prefix(), llm_cache_sampled=False) as cache:
        llm_cache = AgentCacheLLMCache(cache)
        hot, cold = "[('temperature', 0.7)]", "[('temperature', 0.0)]"
        llm_cache.update("p", hot, [Generation(text="x")])
        llm_cache.update("p", cold, [Generation(text="y")])
        assert llm_cache.lookup("p", hot) is None
        assert llm_cache.lookup("p", cold) == [Generation(text="y")]


def test_bad_input_is_refused_before_anything_is_sent(cache: AgentCache) -> None:
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheChatMessageHistory("h", object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="AgentCache"):
        AgentCacheLLMCache(None)  # type: ignore[arg-type]
    before = cache.round_trips
    with pytest.raises(InvalidArgumentError, match="LangChain messages"):
        AgentCacheChatMessageHistory("h", cache).add_messages(["not a message"])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="generations"):
        AgentCacheLLMCache(cache).update("p", "l", ["text"])  # type: ignore[list-item]
    assert cache.round_trips == before
