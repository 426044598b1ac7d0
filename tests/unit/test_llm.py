"""The LLM tier's canonical request: stable, and its typed errors come before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agentcache import (
    CanonicalArgsError,
    InvalidArgumentError,
)
from agentcache.tiers.llm.request import canonical_request, request_digest


def test_canonical_form_is_stable_and_typed_errors_come_first() -> None:
    assert canonical_request({"model": "m", "n": 1.0, "x": (1, 2)}) == {"model": "m", "n": 1, "x": [1, 2]}
    assert request_digest({"a": 1, "b": 2}) == request_digest({"b": 2, "a": 1})

    class Msg(BaseModel):
        role: str
        content: str | None = None

    as_model = canonical_request({"model": "m", "messages": [Msg(role="user", content="hi")]})
    assert as_model == canonical_request({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    bad: Any
    for bad in ({"messages": []}, {"model": ""}, {"model": 3}, "not a dict"):
        with pytest.raises(InvalidArgumentError):
            canonical_request(bad)
    with pytest.raises(CanonicalArgsError, match="iterators"):
        canonical_request({"model": "m", "messages": iter([])})
    with pytest.raises(CanonicalArgsError, match="JSON"):
        canonical_request({"model": "m", "temperature": float("nan")})
