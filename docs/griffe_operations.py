"""A griffe extension for the API reference (mkdocs.yml loads it; it is not part of the package).

A tier lists its operations as ``name = operation(fn)`` (or ``opening(fn, ...)``): a descriptor
that, at run time, gives the facade's callers ``fn`` bound to their executor, with ``fn``'s
signature less its leading settings parameter, and ``fn``'s docstring. Read statically, griffe sees
an attribute without a docstring; this turns each into the method its users call. It also shows
the docstrings' Sphinx roles (``:class:`AgentCache```) as code, which Markdown does not know.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import griffe

BINDERS = {"operation", "opening"}
ROLE = re.compile(r":(?:class|meth|func|mod|attr|exc|data|obj):`~?([^`]+)`")


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    for member in obj.members.values():
        if not member.is_alias:
            yield member
            yield from _objects(member)


def _classes(obj: griffe.Object) -> Iterator[griffe.Class]:
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            yield member
            yield from _classes(member)
        elif isinstance(member, griffe.Module):
            yield from _classes(member)


def _target(cls: griffe.Class, value: object) -> griffe.Function | None:
    """The operation function ``value`` (``operation(fn, ...)``) binds, if it can be found."""
    if not isinstance(value, griffe.ExprCall) or str(value.function) not in BINDERS or not value.arguments:
        return None
    name = value.arguments[0]
    if not isinstance(name, griffe.ExprName):
        return None
    found: Any = cls.module.members.get(name.name)
    try:
        found = found.final_target if found is not None and found.is_alias else found
    except griffe.AliasResolutionError:
        return None
    return found if isinstance(found, griffe.Function) else None


class Operations(griffe.Extension):
    """Show each ``name = operation(fn)`` of a class as a method with ``fn``'s docstring."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for cls in _classes(pkg):
            for name, member in list(cls.members.items()):
                if member.is_alias or not isinstance(member, griffe.Attribute):
                    continue
                function = _target(cls, member.value)
                if function is None:
                    continue
                method = griffe.Function(
                    name,
                    lineno=member.lineno,
                    endlineno=member.endlineno,
                    parameters=griffe.Parameters(*list(function.parameters)[1:]),
                    docstring=griffe.Docstring(function.docstring.value) if function.docstring else None,
                )
                cls.set_member(name, method)
        for obj in [pkg, *_objects(pkg)]:
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(r"``\1``", obj.docstring.value)
