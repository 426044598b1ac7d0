"""The model behind the Sessions API (``agentcache serve --model provider:model``).

With a model, a message sent with transport ``http`` or ``sse`` runs a turn over the conversation
(``conv.run`` / ``conv.stream``, through the LLM tier) and the reply is stored beside the message.
The SDK's client is made from the usual environment variables: ``OPENAI_API_KEY`` and
``OPENAI_BASE_URL`` for ``openai:<model>`` (any server speaking OpenAI's Chat Completions),
``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) and ``ANTHROPIC_BASE_URL`` for
``anthropic:<model>``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from agentcache.errors import InvalidArgumentError

MODEL_VARIABLE = "AGENTCACHE_MODEL"
PROVIDERS = {
    "openai": ("openai", "OpenAIChatModel", ("OPENAI_API_KEY",)),
    "anthropic": ("anthropic", "AnthropicModel", ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")),
}


def chat_model(spec: str) -> Any:
    """The ChatModel ``spec`` names (``openai:gpt-4o-mini``, ``anthropic:claude-sonnet-4-5``).

    Raises :class:`InvalidArgumentError` for a spec of another form, a provider whose SDK is not
    installed (naming the extra), or no API key in the environment."""
    provider, _, name = spec.partition(":")
    if provider not in PROVIDERS or not name.strip():
        raise InvalidArgumentError(
            f"--model takes provider:model with provider openai or anthropic (e.g. openai:gpt-4o-mini), not {spec!r}"
        )
    extra, class_name, keys = PROVIDERS[provider]
    try:
        module = importlib.import_module(f"agentcache.providers.{provider}")
    except ImportError:
        raise InvalidArgumentError(
            f'--model {spec} needs the {extra} SDK: pip install "valkey-agentcache[{extra}]"'
        ) from None
    if not any(os.environ.get(key) for key in keys):
        raise InvalidArgumentError(f"--model {spec} needs an API key: set {' or '.join(keys)}")
    return getattr(module, class_name)(name.strip())


def configured_model(model: Any) -> Any:
    """``model`` (a ChatModel, or a spec for :func:`chat_model`), else ``AGENTCACHE_MODEL``, else None."""
    if model is None:
        model = os.environ.get(MODEL_VARIABLE) or None
    if isinstance(model, str):
        return chat_model(model)
    if model is not None and not all(hasattr(model, name) for name in ("api", "request", "call_async")):
        raise InvalidArgumentError(f"model must be a ChatModel or 'provider:model', not {type(model).__name__}")
    return model
