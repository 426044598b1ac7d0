"""What a semantic lookup compares, and what it must match exactly.

The *prompt* is the text of the request's last user message (Chat Completions and Anthropic
``messages``, Responses ``input``): what the embedder compares. Everything else in the canonical
request (``tiers/llm/request.py``: the model, the system prompt, the tools, the earlier messages, the
sampling parameters, the API) is the *scope*, which must match exactly, and so must what the caller
adds (``scope={"tenant": ..., "user": ...}``), the embedder and the index layout. A request whose last
message is not a user's text (a tool result, an image) has no prompt: the semantic tier does not
take it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from agentcache.errors import InvalidArgumentError, shown
from agentcache.tiers.llm.request import request_digest

_TEXT_PARTS = frozenset({"text", "input_text"})
_PROMPT_MARK = "\x00agentcache:prompt"  # stands for the prompt in the scope's canonical form


def _text(content: Any) -> str | None:
    """A message content's text: a str, or a list of text parts only (else None)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        return None
    texts = []
    for part in content:
        if not (isinstance(part, Mapping) and part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str)):
            return None
        texts.append(part["text"])
    return "\n".join(texts)


def split_prompt(canonical: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(prompt, the canonical request with the prompt replaced by a mark), or None if the request's
    last message is not a user's text."""
    for field in ("messages", "input"):
        if field not in canonical:
            continue
        value = canonical[field]
        if isinstance(value, str) and field == "input":
            return value, {**canonical, field: _PROMPT_MARK}
        if not isinstance(value, list) or not value:
            return None
        last = value[-1]
        if not isinstance(last, Mapping) or last.get("role") != "user":
            return None
        text = _text(last.get("content"))
        if text is None or not text.strip():
            return None
        marked = {**last, "content": _PROMPT_MARK}
        return text, {**canonical, field: [*value[:-1], marked]}
    return None


def caller_scope(scope: object) -> dict[str, str]:
    """The caller's scope (``{"tenant": "a"}``): str keys and str values; {} for None."""
    if scope is None:
        return {}
    if not isinstance(scope, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in scope.items()):
        raise InvalidArgumentError(
            f"scope must be a dict of str to str (e.g. {{'tenant': 'acme'}}), not {shown(scope)}"
        )
    return dict(scope)


def caller_digest(scope: Mapping[str, str]) -> str:
    """32 hex characters naming the caller's scope alone (what ``invalidate_scope`` finds)."""
    return request_digest({"caller": dict(scope)})


def scope_digest(
    rest: Mapping[str, Any], caller: Mapping[str, str], embedder: str, dimensions: int, layout: str
) -> str:
    """32 hex characters naming the whole scope: the request without its prompt, the caller's
    scope, the embedder and the index layout."""
    return request_digest(
        {"request": dict(rest), "caller": dict(caller), "embedder": embedder, "dims": dimensions, "layout": layout}
    )


def text_digest(text: str) -> bytes:
    """16 bytes naming a prompt's text (the embedding cache's key, the scope's exact-text map)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
