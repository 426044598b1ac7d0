"""The cache's options, written once for every constructor.

:class:`CacheOptions` types the keyword options of ``AgentCache(...)``, ``from_url``, ``embedded``
and ``in_memory`` (with ``Unpack``); :func:`make_settings` checks them, before anything is started
or sent, into the frozen :class:`~agentcache.tiers.settings.Options` and the conversation tier's
:class:`~agentcache.tiers.conversations.lifecycle.Lifecycle`. What the tiers keep at run time (the
statistics not yet shipped, the tool policies last read, the computations in flight) is apart, in
:class:`~agentcache.tiers.settings.Settings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

from agentcache.core.near import NearCache, NearStore
from agentcache.core.observe import Observer
from agentcache.encoding.encryption import Encryption, Sealer
from agentcache.encoding.expiry import TTL, ttl_ms
from agentcache.encoding.keys import HashedIds, check_prefix
from agentcache.errors import InvalidArgumentError, unknown_names
from agentcache.tiers.conversations.lifecycle import ConversationConfig, Lifecycle, resolve
from agentcache.tiers.settings import ModelPrice, Options, Settings

DEFAULT_PREFIX = "agentcache"
DEFAULT_SESSION_TTL = 1800.0
DEFAULT_MAX_VALUE_BYTES = 8 * 1024 * 1024
DEFAULT_SCAN_COUNT = 1000
MAX_RETRY_S = 3600.0


class CacheOptions(TypedDict, total=False):
    """The keyword options every constructor takes (all optional)."""

    prefix: str
    """Starts every key (default ``agentcache``)."""
    session_ttl: TTL
    """The session tier's default sliding TTL in seconds, or ``NO_EXPIRY`` (default 30 minutes)."""
    max_value_bytes: int
    """Values larger than this once encoded are refused (default 8 MiB)."""
    scan_count: int
    """The SCAN COUNT of thread-wide operations (default 1000)."""
    tool_ttl: TTL | None
    """Tool results' TTL when neither the call nor the tool's policy sets one (default: none)."""
    conversation_config: ConversationConfig | None
    """The conversation tier's limits (else the ``SESSION_*_MINUTES`` environment variables, else defaults)."""
    retry_reads: float
    """Seconds a read may keep retrying after connection errors, with backoff (default 0: never)."""
    llm_ttl: TTL | None
    """LLM responses' TTL when neither the call nor the model's policy sets one (default: none)."""
    llm_cache_sampled: bool
    """Whether requests that sample (temperature above 0 or unset) are cached (default True)."""
    llm_prices: Mapping[str, ModelPrice]
    """Price per model (:class:`ModelPrice`), for the cost saved by LLM hits (default: none)."""
    near_cache: NearCache | None
    """Serve tool results, LLM responses and session fields from process memory, invalidated by the
    server (:class:`~agentcache.NearCache`); default none."""
    observers: Sequence[Observer]
    """What sees every operation: tracing and metrics (``agentcache.observers.opentelemetry``,
    ``agentcache.observers.prometheus``); default none, and then nothing is measured."""
    encryption: Encryption | None
    """Encrypt every stored value at rest with AES-256-GCM (:class:`~agentcache.Encryption`: named
    keys, the first encrypts; the ``encryption`` extra); default none. See docs/encryption.md."""


OPTION_NAMES = tuple(CacheOptions.__annotations__)


def make_settings(options: CacheOptions | dict[str, object]) -> tuple[Settings, Lifecycle]:
    """Check keyword options; raise :class:`InvalidArgumentError` (or ``InvalidNameError``) for a
    bad or unknown one, before anything is started or sent."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise InvalidArgumentError(
            f"unknown option(s) {unknown_names(unknown, OPTION_NAMES)}: the cache's options are "
            f"{', '.join(sorted(OPTION_NAMES))}"
        )
    prefix = options.get("prefix", DEFAULT_PREFIX)
    max_value_bytes = options.get("max_value_bytes", DEFAULT_MAX_VALUE_BYTES)
    scan_count = options.get("scan_count", DEFAULT_SCAN_COUNT)
    tool_ttl = options.get("tool_ttl")
    retry_reads = options.get("retry_reads", 0.0)
    if (
        not isinstance(retry_reads, int | float)
        or isinstance(retry_reads, bool)
        or not 0 <= retry_reads <= MAX_RETRY_S
        or retry_reads != retry_reads
    ):
        raise InvalidArgumentError(f"retry_reads must be seconds from 0 to {MAX_RETRY_S}, not {retry_reads!r}")
    for name, number in (("max_value_bytes", max_value_bytes), ("scan_count", scan_count)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise InvalidArgumentError(f"{name} must be a positive int, not {number!r}")
    llm_ttl = options.get("llm_ttl")
    sampled = options.get("llm_cache_sampled", True)
    if not isinstance(sampled, bool):
        raise InvalidArgumentError(f"llm_cache_sampled must be True or False, not {sampled!r}")
    prices = _prices(options.get("llm_prices", {}))
    checked = Options(
        check_prefix(prefix),
        ttl_ms(options.get("session_ttl", DEFAULT_SESSION_TTL), "session_ttl"),
        max_value_bytes,  # type: ignore[arg-type]
        scan_count,  # type: ignore[arg-type]
        0 if tool_ttl is None else ttl_ms(tool_ttl, "tool_ttl"),
        float(retry_reads),
        0 if llm_ttl is None else ttl_ms(llm_ttl, "llm_ttl"),
        sampled,
        prices,
        _observers(options.get("observers", ())),
    )
    near = options.get("near_cache")
    if near is not None and not isinstance(near, NearCache):
        raise InvalidArgumentError(f"near_cache must be a NearCache(...), not {type(near).__name__}")
    store = None if near is None else NearStore(near, checked.prefix)
    sealer = _sealer(options.get("encryption"))
    ids = None if sealer is None or sealer.encryption.id_key is None else HashedIds(sealer.encryption.id_key)
    settings = Settings(checked, near=store, sealer=sealer, ids=ids)
    return settings, resolve(options.get("conversation_config"))  # type: ignore[arg-type]


def _sealer(encryption: object) -> Sealer | None:
    """The ciphers of ``encryption=`` (MissingExtraError without the ``encryption`` extra)."""
    if encryption is None:
        return None
    if not isinstance(encryption, Encryption):
        raise InvalidArgumentError(
            f"encryption must be Encryption(keys={{name: key}}), not {type(encryption).__name__}"
        )
    return Sealer(encryption)


def _observers(observers: object) -> tuple[Observer, ...]:
    if isinstance(observers, str | bytes) or not isinstance(observers, Sequence):
        raise InvalidArgumentError(f"observers must be a list of observers, not {type(observers).__name__}")
    for observer in observers:
        if not (callable(getattr(observer, "begin", None)) and callable(getattr(observer, "end", None))):
            raise InvalidArgumentError(
                f"{observer!r} is not an observer (it needs begin(record) and end(record, token) methods)"
            )
    return tuple(observers)


def _prices(prices: object) -> dict[str, ModelPrice]:
    if not isinstance(prices, Mapping):
        raise InvalidArgumentError(
            f"llm_prices must be a dict of model name -> ModelPrice, not {type(prices).__name__}"
        )
    out: dict[str, ModelPrice] = {}
    for model, price in prices.items():
        numbers = (getattr(price, "input_per_million", None), getattr(price, "output_per_million", None))
        if not (
            isinstance(model, str)
            and isinstance(price, ModelPrice)
            and all(isinstance(n, int | float) and not isinstance(n, bool) and 0 <= n < 1e12 for n in numbers)
        ):
            raise InvalidArgumentError(
                f"llm_prices[{model!r}] must be ModelPrice(input_per_million=, output_per_million=) "
                f"with numbers >= 0, not {price!r}"
            )
        out[model] = price
    return out
