"""The LLM tier's canonical request: stable, and its typed errors come before anything is sent."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel

from agentcache import (
    CanonicalArgsError,
    InvalidArgumentError,
)
from agentcache.tiers.llm import request as canon
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


def _reference(request: dict[str, Any]) -> dict[str, Any]:
    """The canonical form by the general walk alone (what the plain-data fast path must equal)."""
    return {name: canon._data(value, name, 1) for name, value in request.items() if canon._given(value)}


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_the_fast_canonical_form_equals_the_general_walk() -> None:
    class Part(BaseModel):
        type: str
        text: str | None = None

    class NotGiven:  # named like the SDKs' marker for an argument left out
        pass

    cases: list[Any] = [
        [{"role": "user", "content": "hi", "name": None}, {"role": "assistant", "content": None}],
        {"b": 1.0, "a": [1.5, 2.0, -0.0, 2.0**60, None, True, 3], "c": (1, (2.0, "x")), "d": {}},
        [{"content": [Part(type="text", text="x"), {"type": "image", "url": None}]}],
        {"marker": NotGiven(), "kept": "x", "enum_like": True},
        [float("1e300"), 7, "s", [None, [None]]],
        _nested(98, 1),
        _nested(99, 1),
        _nested(99, "text"),
        _nested(99, {"leaf": "x"}),
        [{"a": {"x": [1, "y"]}, "b": None, "c": [{"d": 1}, 2.0], "e": "f"}, {"g": [None, {"h": 0.5}]}],
        [[{"a": 1}], ({"b": 2},), [{"c": {"d": None}}]],
    ]
    for i, value in enumerate(cases):
        request = {"model": "m", "messages": value, "temperature": 0.0}
        before = None if i in (2, 3) else copy.deepcopy(request)  # (the objects of 2 and 3 compare by identity)
        assert canonical_request(request) == _reference(request)
        assert before is None or request == before  # what changes is copied, never changed in place
        assert request_digest(canonical_request(request)) == request_digest(_reference(request))


def test_the_fast_canonical_form_refuses_what_the_general_walk_refuses() -> None:
    looped: list[Any] = []
    looped.append(looped)
    for bad, match in (
        ({1: "x"}, "JSON keys are str"),
        ([{"t": float("inf")}], "JSON cannot send"),
        ([{"s": {1, 2}}], "no JSON form"),
        (looped, "nests deeper"),
        (_nested(101, 1), "nests deeper"),
    ):
        with pytest.raises(CanonicalArgsError, match=match) as fast:
            canonical_request({"model": "m", "messages": bad})
        with pytest.raises(CanonicalArgsError) as general:
            canon._data(bad, "messages", 1)
        assert str(fast.value) == str(general.value)
