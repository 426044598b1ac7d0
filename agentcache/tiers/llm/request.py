"""The canonical request of a model call: what decides the answer, in one form, and its digest.

A request is the keyword arguments of a model API call (``model``, ``messages`` or ``input``,
``tools``, ``temperature``...). Its canonical form is its JSON data with:

- the parameters that do not change the answer left out: :data:`IGNORED_PARAMETERS` (timeouts,
  headers, user ids, metadata, storage and streaming flags), or the ``ignore=`` set a caller passes;
- ``None`` and the SDKs' "not given" markers left out (as if the parameter had not been passed);
- pydantic models (an SDK message passed back in) as their JSON data without unset fields;
- dict key order ignored at every depth, tuples as lists, and a float with an integral value as the
  int (``temperature=0`` and ``temperature=0.0`` are one request: JSON sends them alike).

The digest is 128 bits of BLAKE2b over the sorted, compact JSON text.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from agentcache.errors import CanonicalArgsError, InvalidArgumentError, shown

IGNORED_PARAMETERS = frozenset(
    {
        "stream",  # a stream and a plain call get the same answer (a stream replays its own chunks)
        "stream_options",
        "timeout",
        "extra_headers",
        "extra_query",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "background",
    }
)
"""Request parameters that do not change the model's answer, so requests differing only in them
share a cached response. Pass ``ignore=`` to the tier (or a wrapper) to choose another set."""

API_KEY = "agentcache_api"
"""The request field naming the API (``chat``, ``responses``, ``anthropic``) that the client wrappers
and model turns add, so requests of two APIs never share an entry."""

MAX_DEPTH = 100
_NOT_GIVEN = frozenset({"NotGiven", "Omit"})  # the SDKs' markers for an argument left out


def _given(value: Any) -> bool:
    return value is not None and type(value).__name__ not in _NOT_GIVEN


def _data(value: Any, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CanonicalArgsError(f"the request nests deeper than {MAX_DEPTH} levels (a cycle?) at {path[:200]}")
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalArgsError(f"the request's {path} is {value!r}, which JSON cannot send")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalArgsError(f"the request's {path} has the key {shown(key)}; JSON keys are str")
            if _given(item):  # text, the bulk of a request, is kept as is without a call
                out[key] = item if type(item) is str else _data(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [item if type(item) is str else _data(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    kind = type(value)
    raise CanonicalArgsError(
        f"the request's {path} is a {kind.__module__}.{kind.__qualname__}, which has no JSON form; "
        "pass lists (not iterators), dicts, str, numbers, bools or pydantic models"
    )


class _NotPlainError(Exception):
    """Raised by :func:`_plain` at what only :func:`_data` handles (or refuses, with the message)."""


_LEAVES = frozenset({str, int, bool})
_DROPPED = object()  # what _plain makes of a None in a dict


def _head(value: dict[str, Any], key: str) -> dict[str, Any]:
    """The items of ``value`` before ``key``."""
    out = {}
    for k, item in value.items():
        if k == key:
            break
        out[k] = item
    return out


def _plain(value: Any, depth: int) -> Any:
    """:func:`_data` for plain JSON data (exact dicts with str keys, lists, tuples, str, int, bool,
    None, finite floats): the same result, without the paths and ``isinstance`` chains that make
    :func:`_data` slow on a long conversation, and without copying what is already canonical (a
    dict or list comes back as itself unless something in it changes). Anything else raises
    :class:`_NotPlainError`, and :func:`_data` starts over on the value (so its result and its
    errors are the reference)."""
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise _NotPlainError
        out: dict[str, Any] | None = None  # the copy, from the first item that changes
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlainError
            if type(item) in _LEAVES:
                if out is not None:
                    out[key] = item
                continue
            new = _DROPPED if item is None else _plain(item, depth + 1)  # None: left out, as if not passed
            if out is None and new is not item:
                out = _head(value, key)
            if out is not None and new is not _DROPPED:
                out[key] = new
        return value if out is None else out
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise _NotPlainError
        copy: list[Any] | None = None if kind is list else []  # a tuple always becomes a list
        for i, item in enumerate(value):
            if type(item) in _LEAVES or item is None:
                new = item
            else:
                new = _plain(item, depth + 1)
                if copy is None and new is not item:
                    copy = value[:i]
            if copy is not None:
                copy.append(new)
        return value if copy is None else copy
    if kind is float:
        if not math.isfinite(value):
            raise _NotPlainError
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if kind is str or kind is int or kind is bool or value is None:
        return value
    raise _NotPlainError


def ignored(ignore: Iterable[str] | None) -> frozenset[str]:
    """The parameters to leave out: :data:`IGNORED_PARAMETERS`, or ``ignore`` if given."""
    if ignore is None:
        return IGNORED_PARAMETERS
    if isinstance(ignore, str) or not all(isinstance(name, str) for name in ignore):
        raise InvalidArgumentError(f"ignore must be a collection of parameter names, not {shown(ignore)}")
    names = frozenset(ignore)
    if "model" in names:
        raise InvalidArgumentError("ignore cannot hold 'model': responses are cached per model")
    return names


def canonical_request(request: object, ignore: frozenset[str] = IGNORED_PARAMETERS) -> dict[str, Any]:
    """The canonical JSON data of ``request``; raises a typed error for a request with no model or no JSON form.

    Nested dicts and lists that are already canonical are shared with ``request``, not copied."""
    if not isinstance(request, Mapping):
        raise InvalidArgumentError(f"request must be a dict of the model call's arguments, not {shown(request)}")
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidArgumentError(f"request needs 'model', the model's name (a non-empty str), not {shown(model)}")
    out: dict[str, Any] = {}
    for name, value in request.items():
        if not isinstance(name, str):
            raise InvalidArgumentError(f"request parameter names are str, not {shown(name)}")
        if name not in ignore and _given(value):
            try:
                out[name] = _plain(value, 1)
            except _NotPlainError:
                out[name] = _data(value, name, 1)
    return out


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""The canonical JSON text's encoder, made once (``json.dumps`` with options makes one per call)."""


def request_digest(canonical: Mapping[str, Any]) -> str:
    """32 hex characters identifying a canonical request."""
    text = _ENCODER.encode(canonical)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def samples(canonical: Mapping[str, Any]) -> bool:
    """Whether the request samples: a temperature above 0, or none (the providers' default is 1)."""
    temperature = canonical.get("temperature")
    return not isinstance(temperature, int | float) or temperature > 0
