"""What a model-driven turn needs of a model: :class:`ChatModel`, a small provider protocol.

Implementations live with their SDKs: :class:`agentcache.providers.openai.OpenAIChatModel` (any
OpenAI-compatible Chat Completions endpoint) and :class:`agentcache.providers.anthropic.AnthropicModel`.
A model builds the request from the turn's :class:`~agentcache.Context` (typed as a
:class:`~agentcache.tiers.content.requests.Transcript`: a system prompt and messages), with no I/O
so the LLM tier can key it before anything is sent, and sends it, sync or async, plain or streamed.
Requests are rendered by ``content/requests.py``; responses and stream chunks travel as the API's
JSON data, read by ``content/formats.py``. The tools and the reply schema offered
(:class:`ToolSpec`, :class:`OutputSchema`, :func:`tool_spec`) are defined in ``content/specs.py``
and importable from here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Protocol

from agentcache.tiers.content.formats import Api
from agentcache.tiers.content.requests import Transcript
from agentcache.tiers.content.specs import OutputSchema, ToolSpec, tool_spec

__all__ = ["ChatModel", "OutputSchema", "ToolSpec", "Transcript", "tool_spec"]


class ChatModel(Protocol):
    """A model a conversation can run turns on."""

    api: Api
    """The response format it speaks: ``chat``, ``responses`` or ``anthropic``."""
    model: str
    """The model's name, as the provider knows it."""

    def request(
        self, context: Transcript, tools: Sequence[ToolSpec], output: OutputSchema | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The API call's keyword arguments for this turn (no I/O): ``context`` (a
        :class:`~agentcache.Context`) with the tools, the reply schema and the model parameters.
        ``content/requests.py`` renders each API's request (``chat_request``, ``anthropic_request``)."""
        ...

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send the request; the response as JSON data."""
        ...

    async def call_async(self, request: dict[str, Any]) -> dict[str, Any]:
        """:meth:`call` on asyncio."""
        ...

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Send the request streamed; its chunks (events) as JSON data."""
        ...

    def stream_async(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """:meth:`stream` on asyncio."""
        ...
