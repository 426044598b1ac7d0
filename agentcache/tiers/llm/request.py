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
    """The canonical JSON data of ``request``; raises a typed error for a request with no model or no JSON form."""
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
