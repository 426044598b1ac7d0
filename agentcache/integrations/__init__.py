"""Adapters for the agent frameworks (LangGraph, the OpenAI Agents SDK, LangChain, Google ADK,
Pydantic AI, LlamaIndex, Strands); each behind its own extra.

Nothing here is imported by ``import agentcache``: import the module you need, for example
``from agentcache.integrations.langgraph import AgentCacheSaver``.
"""
