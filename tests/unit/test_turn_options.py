"""``TurnOptions``: the one list of a turn's options, and the three ways in (``conv.run``,
``conv.json``, ``conv.stream``) that take each of them as a keyword, with the same type and default."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import MISSING, fields
from typing import Any

import pytest

from agentcache.errors import InvalidArgumentError
from agentcache.tiers.conversations import turns
from agentcache.tiers.conversations.handles import Conversation
from agentcache.tiers.conversations.turns import DEFAULT_MAX_STEPS, TurnOptions

OPTIONS = [f for f in fields(TurnOptions) if f.name != "params"]


def keywords(fn: Any) -> dict[str, tuple[Any, Any]]:
    """A function's keyword-only parameters: name -> (annotation, default)."""
    params = inspect.signature(fn).parameters.values()
    return {p.name: (p.annotation, p.default) for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("fn", [turns.run, turns.json_, Conversation.stream], ids=["run", "json", "stream"])
def test_every_way_in_takes_every_option_with_its_type_and_default(fn: Any) -> None:
    expected = {
        f.name: (f.type, inspect.Parameter.empty if f.default is MISSING else f.default)
        for f in OPTIONS
        if f.default_factory is MISSING
    }
    taken = keywords(fn)
    taken.pop("schema", None)  # json's own
    assert taken == expected
    rest = list(inspect.signature(fn).parameters.values())[-1]
    assert rest.kind is inspect.Parameter.VAR_KEYWORD and rest.name == "params"


def test_stream_takes_exactly_runs_arguments() -> None:
    run, stream = inspect.signature(turns.run), inspect.signature(Conversation.stream)
    assert list(stream.parameters.values())[1:] == list(run.parameters.values())[1:]
    assert next(iter(stream.parameters)) == "self"
    assert Conversation.stream.__doc__ and "streamed" in Conversation.stream.__doc__


@pytest.mark.parametrize("fn", [turns.run, turns.json_], ids=["run", "json"])
def test_run_and_json_pass_every_option_on(fn: Any) -> None:
    """Each builds TurnOptions with every field from the keyword of that name (none left at its default)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "TurnOptions"
    ]
    assert len(calls) == 1
    passed = {k.arg: k.value.id for k in calls[0].keywords if k.arg is not None and isinstance(k.value, ast.Name)}
    assert passed == {f.name: f.name for f in fields(TurnOptions)}


def test_from_keywords_splits_options_from_model_parameters() -> None:
    model = object()
    options = TurnOptions.from_keywords({"model": model, "max_steps": 3, "temperature": 0.2, "max_tokens": 9})
    assert options.model is model and options.max_steps == 3 and options.system is None
    assert options.params == {"temperature": 0.2, "max_tokens": 9}
    assert TurnOptions.from_keywords({"model": model}).max_steps == DEFAULT_MAX_STEPS


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": True}, "max_steps"),
        ({"llm_cache": "yes"}, "llm_cache"),
        ({"stamp": "not a function"}, "stamp"),
        ({"messages": []}, "'messages' is set by the turn"),
    ],
)
def test_a_bad_option_is_refused_when_the_options_are_made(given: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidArgumentError, match=says):
        TurnOptions.from_keywords({"model": object(), **given})


def test_the_model_is_required() -> None:
    with pytest.raises(TypeError, match="model"):
        TurnOptions.from_keywords({"temperature": 0.2})
