"""The two executors are the package's one allowed twin (docs/architecture.md): this test holds
them to one shape, so they cannot drift apart silently (as httpcore's ``unasync --check`` does).

Same methods (names, parameters, kinds and defaults; the async one's are coroutine functions or
async generators where the sync one's are plain functions or generators), the same public
attributes (the async one's per-loop attributes aside), each documented, with the same words where
both have it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

from agentcache.core.executors import AsyncExecutor, SyncExecutor

# The per-loop machinery of AsyncExecutor: a sync client serves every thread, an asyncio one a loop.
ASYNC_ONLY = {"fresh", "loop"}


def methods(cls: type) -> dict[str, Any]:
    return {name: member for name, member in vars(cls).items() if inspect.isfunction(member)}


def parameters(member: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()]


def attributes(cls: type) -> dict[str, str | None]:
    """The public attributes ``__init__`` sets on ``self``, each with the docstring under it (or None)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(vars(cls)["__init__"])))
    body = tree.body[0].body  # type: ignore[attr-defined]
    found: dict[str, str | None] = {}
    for statement, after in zip(body, [*body[1:], None], strict=True):
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and not target.attr.startswith("_")
            ):
                documented = (
                    isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                )
                found[target.attr] = inspect.cleandoc(after.value.value) if documented else None
    return found


def test_the_executors_have_the_same_methods_with_the_same_parameters() -> None:
    sync, asynchronous = methods(SyncExecutor), methods(AsyncExecutor)
    assert sorted(sync) == sorted(asynchronous)
    for name, member in sync.items():
        twin = asynchronous[name]
        assert parameters(member) == parameters(twin), name
        if name == "__init__":
            continue
        if inspect.isgeneratorfunction(member):
            assert inspect.isasyncgenfunction(twin), f"AsyncExecutor.{name} should be an async generator"
        else:
            assert inspect.iscoroutinefunction(twin), f"AsyncExecutor.{name} should be a coroutine function"
        assert not inspect.iscoroutinefunction(member) and not inspect.isasyncgenfunction(member), name


def test_every_public_method_is_documented_on_both() -> None:
    for cls in (SyncExecutor, AsyncExecutor):
        for name, member in methods(cls).items():
            if not name.startswith("_"):
                assert inspect.getdoc(member), f"{cls.__name__}.{name} has no docstring"


def test_the_executors_have_the_same_documented_attributes() -> None:
    sync, asynchronous = attributes(SyncExecutor), attributes(AsyncExecutor)
    assert set(sync) == set(asynchronous) - ASYNC_ONLY, "the public attributes differ"
    undocumented = [
        f"{cls.__name__}.{name}"
        for cls, found in ((SyncExecutor, sync), (AsyncExecutor, asynchronous))
        for name, doc in found.items()
        if not doc
    ]
    assert not undocumented, f"document these attributes (a docstring under the assignment): {undocumented}"
    for name in sync:
        assert sync[name] == asynchronous[name], f"{name} is documented differently on the two executors"


def test_the_attribute_reader_sees_a_missing_docstring() -> None:
    """The check above can fail: an assignment without a docstring under it reads as undocumented."""

    class Twin:
        def __init__(self) -> None:
            self.documented = 1
            """Says what it is."""
            self.bare = 2
            self._private = 3

    assert attributes(Twin) == {"documented": "Says what it is.", "bare": None}
