"""Names and the key layout: every key agentcache writes is built here, and nowhere else.

    <prefix>:session:{<thread>}:<field>              session field (one key per field, own TTL)
    <prefix>:tool:<tool>:<digest>                    tool result (or, while computed, its lock)
    <prefix>:tool-policy                             hash: tool -> TTL policy
    <prefix>:llm:<model>:<digest>                    LLM response (or, while computed, its lock)
    <prefix>:llm-policy                              hash: model -> TTL policy
    <prefix>:sem:<model>:<caller>:{<scope>}:<part>   semantic index of one scope (see the semantic tier)
    <prefix>:sem-emb:<embedder>:<digest>             a text's embedding, with a TTL
    <prefix>:stats                                   hash: hit/miss/write counts per tier and tool
    <prefix>:conv:{<session>}:meta | :msgs           conversation (same hash tag as the session thread)
    <prefix>:conv-index:{<prefix>}:all|agent:|user:  sorted sets of deadlines (one slot for all three)
    <prefix>:conv-agent:<agent>                      hash: an agent's conversation defaults
    <prefix>:conv-snapshot:<session> , :conv-snapshots   snapshots saved on the server, and their index
    <prefix>:langgraph:{<thread>}:idx|cp|runs|w|widx   a thread's framework checkpoints (same hash tag)

Thread ids, field names and (later) tool names come from users, often from end users, so they are
encoded injectively before they become part of a key: the characters that would change a key's
meaning — glob characters, hash-tag braces, the escape character itself and control characters —
become ``%XX``. So no two (thread, field) pairs share a key, a thread's SCAN pattern matches only
that thread's keys, and the pattern has no wildcard or escape inside its hash tag, which lets a
cluster-mode server confine the SCAN to the thread's slot.

Under ``Encryption(id_key=...)`` the ids users choose (thread, conversation, agent and user ids)
do not appear in key names at all: :class:`HashedIds` replaces each by ``~`` and its keyed hash
before the helpers here see it (``Settings.key_id``), so the layout above is unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import zlib
from dataclasses import dataclass

from agentcache.errors import InvalidNameError

MAX_NAME_BYTES = 1024
MAX_PREFIX_BYTES = 256

_SPECIAL = "{}*?[]\\%" + "".join(map(chr, range(32))) + "\x7f"
_ESCAPES = str.maketrans({ch: f"%{ord(ch):02X}" for ch in _SPECIAL})
_ESCAPED = re.compile(r"%([0-9A-F]{2})")
_PLAIN = re.compile(f"[^{re.escape(_SPECIAL)}]{{1,{MAX_NAME_BYTES}}}")  # nothing to escape, short enough
_FORBIDDEN_IN_PREFIX = frozenset(_SPECIAL) - {"%"}  # a prefix is never decoded, so % may stay


def check_name(name: object, what: str) -> str:
    """Return ``name`` if it is a usable name, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a str, not {type(name).__name__}")
    if not name:
        raise InvalidNameError(f"{what} must not be empty")
    try:
        size = len(name.encode())
    except UnicodeEncodeError as exc:
        raise InvalidNameError(f"{what} is not valid unicode (lone surrogate?): {exc}") from None
    if size > MAX_NAME_BYTES:
        raise InvalidNameError(f"{what} is {size} bytes in UTF-8; the limit is {MAX_NAME_BYTES}")
    return name


def _exact(name: object, what: str) -> str:
    """``name`` as an exact ``str`` (a subclass could override what escaping relies on), or raise."""
    return str.__str__(name) if isinstance(name, str) else check_name(name, what)


def encode_name(name: object, what: str) -> str:
    """Validate ``name`` and escape it for use inside a key (injective, glob- and brace-free)."""
    return _encode_str(name if type(name) is str else _exact(name, what), what)  # remembered: names recur


@functools.lru_cache(maxsize=4096)
def _encode_str(name: str, what: str) -> str:
    if name.isascii() and _PLAIN.fullmatch(name):
        return name  # the common case: short plain ASCII needs no escaping and no further checks
    return check_name(name, what).translate(_ESCAPES)


def decode_name(encoded: str) -> str:
    """Invert :func:`encode_name`."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), encoded)


def check_prefix(prefix: object) -> str:
    """Validate the key prefix: a non-empty str with no glob characters, braces or control chars."""
    if not isinstance(prefix, str) or not prefix:
        raise InvalidNameError(f"prefix must be a non-empty str, not {prefix!r}")
    bad = sorted(set(prefix) & _FORBIDDEN_IN_PREFIX)
    if bad:
        raise InvalidNameError(
            f"prefix {prefix!r} holds {''.join(bad)!r}; glob characters, braces and control "
            "characters would break SCAN patterns and cluster hash tags: choose another prefix"
        )
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        raise InvalidNameError(f"prefix is longer than {MAX_PREFIX_BYTES} bytes")
    return prefix


HASHED_ID_MARK = "~"
HASHED_ID_BYTES = 16


class HashedIds:
    """Ids as key names show them under ``Encryption(id_key=...)``: ``~`` and the hex of the id's
    HMAC-SHA256 under the id key, cut to 128 bits. Checked like any name first (so a bad id raises
    :class:`InvalidNameError` before anything is sent); the hash is one-way, so what is stored under
    a hashed id is found from the id, never the id from the key. Thread-safe."""

    __slots__ = ("_hash",)

    def __init__(self, secret: bytes) -> None:
        def digest(name: str) -> str:
            mac = hmac.new(secret, name.encode(), hashlib.sha256).digest()[:HASHED_ID_BYTES]
            return HASHED_ID_MARK + mac.hex()

        self._hash = functools.lru_cache(maxsize=8192)(digest)

    def __call__(self, value: object, what: str) -> str:
        return self._hash(check_name(_exact(value, what), what))

    def __repr__(self) -> str:
        return "HashedIds(<id key>)"


@dataclass(frozen=True, slots=True)
class ThreadKeys:
    """The keys of one session thread: ``<prefix>:session:{<thread>}:<field>``."""

    head: str
    """Everything before the field: ``<prefix>:session:{<thread>}:``."""

    def field(self, field: object) -> str:
        return self.head + encode_name(field, "field")

    @property
    def pattern(self) -> str:
        """The SCAN MATCH pattern of exactly this thread's fields."""
        return self.head + "*"

    def starting(self, start: object) -> str:
        """What the keys of this thread's fields whose names start with ``start`` start with.
        Escaping keeps prefixes (each character is escaped on its own, and an escape is always
        ``%XX``), so a field's name starts with ``start`` exactly when its key starts with this."""
        return self.head + encode_name(start, "field")

    @property
    def anchor(self) -> str:
        """A key in the thread's slot that is never a field (fields are non-empty): routes scripts."""
        return self.head

    def field_of(self, key: bytes) -> str | None:
        """The field name of one of this thread's keys, or None for a key that is not ours."""
        text = key.decode(errors="surrogateescape")
        if not text.startswith(self.head) or len(text) == len(self.head):
            return None
        return decode_name(text[len(self.head) :])


def tier_heads(prefix: str) -> tuple[str, str, str]:
    """What every tool-result, LLM-response and session-field key starts with (the near cache
    tracks these prefixes)."""
    return f"{prefix}:tool:", f"{prefix}:llm:", f"{prefix}:session:"


def sealed_kind(prefix: str, key: str) -> str | None:
    """What ``agentcache rekey`` finds at ``key`` under ``prefix`` (``encryption=``): ``value`` (a
    string key holding one sealed value: a session field, a tool result, an LLM response, a
    snapshot), ``part`` (a user part), ``messages`` (a conversation's message list), ``meta`` (a
    conversation's meta hash, whose ``meta``, ``system`` and ``summary`` fields are sealed),
    ``checkpoints`` / ``writes`` (a thread's checkpoint entries / pending writes hash, every field
    sealed but ``#writes``), ``item`` (a store item's hash, field ``v`` sealed), ``semantic`` (a
    semantic scope's entries hash, ``<head>r``, every field sealed), ``embedding`` (a cached
    embedding, sealed bytes); None for keys that hold no agent data (policies, statistics,
    indexes, locks, a semantic scope's vectors and band codes...)."""
    tool, llm, session = tier_heads(prefix)
    if key.startswith(session):
        field = key[key.find("}:", len(session)) + 2 :]
        return "part" if field.startswith("__user_part_") else "value"
    if key.startswith((tool, llm, f"{prefix}:conv-snapshot:")):
        return "value"
    if key.startswith(f"{prefix}:conv:{{"):
        return "messages" if key.endswith("}:msgs") else "meta" if key.endswith("}:meta") else None
    tail = _after_tag(key, f"{prefix}:{CHECKPOINT_FRAMEWORK}:{{")
    if tail is not None:
        return {":cp": "checkpoints", ":w": "writes"}.get(tail)
    if key.startswith(f"{prefix}:sem-emb:"):
        return "embedding"
    tail = _after_tag(key, f"{prefix}:sem:")
    if tail is not None:
        return "semantic" if tail == ":r" else None
    tail = _after_tag(key, f"{prefix}:store:{{")
    return "item" if tail is not None and tail.startswith(":i:") else None


def _after_tag(key: str, head: str) -> str | None:
    """What follows the hash tag of a key starting with ``head`` (an escaped name holds no '}')."""
    close = key.find("}", len(head)) if key.startswith(head) else -1
    return None if close < 0 else key[close + 1 :]


def prefix_pattern(prefix: str) -> str:
    """The SCAN MATCH pattern of every key under ``prefix`` (a prefix holds no glob character)."""
    return f"{prefix}:*"


def _thread_head(prefix: str, thread_id: object) -> str:
    """``<prefix>:session:{<thread>}:``: the one place the session key layout is written."""
    return f"{prefix}:session:{{{encode_name(thread_id, 'thread_id')}}}:"


def user_parts_key(prefix: str, thread_id: object) -> str:
    """``<prefix>:parts:{<thread>}``: the set of the thread's pending user-part keys (same hash tag
    as the thread's fields, outside their SCAN pattern)."""
    return f"{prefix}:parts:{{{encode_name(thread_id, 'thread_id')}}}"


def session_thread(prefix: str, thread_id: object) -> ThreadKeys:
    return ThreadKeys(_thread_head(prefix, thread_id))


def session_key(prefix: str, thread_id: object, field: object) -> str:
    """``<prefix>:session:{<thread>}:<field>``, names encoded."""
    if type(thread_id) is not str:
        thread_id = _exact(thread_id, "thread_id")
    if type(field) is not str:
        field = _exact(field, "field")
    return _session_key(prefix, thread_id, field)  # one cache lookup on the hot path


@functools.lru_cache(maxsize=8192)
def _session_key(prefix: str, thread_id: str, field: str) -> str:
    return _thread_head(prefix, thread_id) + encode_name(field, "field")


DIGEST_CHARS = 32  # hex characters of a tool-argument digest (see canonical.py)


def tool_head(prefix: str, tool: object) -> str:
    """``<prefix>:tool:<tool>:``: the one place the tool-result key layout is written."""
    return _tool_head(prefix, tool if type(tool) is str else _exact(tool, "tool name"))


@functools.lru_cache(maxsize=1024)
def _tool_head(prefix: str, tool: str) -> str:
    return f"{prefix}:tool:{encode_name(tool, 'tool name')}:"


def tool_pattern(prefix: str, tool: object) -> str:
    """The SCAN MATCH pattern of exactly this tool's results: the head, then exactly one digest.

    A fixed-length digest keeps tool ``a`` from matching the keys of tool ``a:b``."""
    return tool_head(prefix, tool) + "[0-9a-f]" * DIGEST_CHARS


# --- the conversation tier ------------------------------------------------------------------------
# The conversation tier's key layout.
#
# A conversation's keys carry the same hash tag as the session tier's keys of the same id (a
# conversation's id is also its thread id), so its meta, its history and its state share one slot and
# one script can update them together::
#
#     <prefix>:conv:{<session>}:meta     hash: owner, settings, clocks, status
#     <prefix>:conv:{<session>}:msgs     list: the history, one msgpack envelope per message
#
# The indexes that answer ``list_active`` and ``expiring`` live together in a slot of their own, so
# one script updates the global, per-agent and per-user index at once::
#
#     <prefix>:conv-index:{<prefix>}:all            sorted set: session id -> deadline (ms)
#     <prefix>:conv-index:{<prefix>}:agent:<agent>  same, one agent's conversations
#     <prefix>:conv-index:{<prefix>}:user:<user>    same, one user's conversations
#     <prefix>:conv-agent:<agent>                   hash: the agent's defaults (configure_agent)


@dataclass(frozen=True, slots=True)
class ConversationKeys:
    meta: str
    msgs: str

    @property
    def both(self) -> list[str]:
        return [self.meta, self.msgs]


def conversation_keys(prefix: str, session_id: str) -> ConversationKeys:
    """The keys of one conversation; ``{<session>}`` is the session tier's hash tag for that thread."""
    head = f"{prefix}:conv:{{{encode_name(session_id, 'session_id')}}}:"
    return ConversationKeys(head + "meta", head + "msgs")


INDEX_BUCKETS = 16
SLOTS = 16384
"""The conversation indexes are spread over this many hash tags, so their updates share the
cluster's primaries instead of all landing on one."""


def index_bucket(session_id: str) -> int:
    """The bucket of a conversation's index entries: a stable hash of its id."""
    return zlib.crc32(session_id.encode("utf-8", "surrogatepass")) % INDEX_BUCKETS


@functools.lru_cache(maxsize=256)
def index_tag(prefix: str, bucket: int) -> str:
    """The hash tag of a bucket's indexes: ``<prefix>:<n>`` with the first ``n`` whose slot falls in
    the bucket's sixteenth of the slot space, so the buckets sit evenly in slot order and a cluster
    whose primaries own contiguous, even slot ranges gets an even share of them."""
    from valkey.crc import key_slot

    span = SLOTS // INDEX_BUCKETS
    for n in range(100_000):
        tag = f"{prefix}:{n}"
        if key_slot(tag.encode()) // span == bucket:
            return tag
    raise AssertionError("no tag found for an index bucket")  # pragma: no cover - 16 tries on average


def index_all(prefix: str, bucket: int) -> str:
    return f"{prefix}:conv-index:{{{index_tag(prefix, bucket)}}}:all"


def index_agent(prefix: str, agent_id: str, bucket: int) -> str:
    return f"{prefix}:conv-index:{{{index_tag(prefix, bucket)}}}:agent:{encode_name(agent_id, 'agent_id')}"


def index_user(prefix: str, user_id: str, bucket: int) -> str:
    return f"{prefix}:conv-index:{{{index_tag(prefix, bucket)}}}:user:{encode_name(user_id, 'user_id')}"


def agent_config_key(prefix: str, agent_id: str) -> str:
    return f"{prefix}:conv-agent:{encode_name(agent_id, 'agent_id')}"


def conv_snapshot_key(prefix: str, session_id: str) -> str:
    return f"{prefix}:conv-snapshot:{encode_name(session_id, 'session_id')}"


def conv_snapshot_index(prefix: str) -> str:
    return f"{prefix}:conv-snapshots"


# --- shared by every process: small hashes, off the hot path -------------------------------------


def stats_key(prefix: str) -> str:
    return f"{prefix}:stats"


def policies_key(prefix: str) -> str:
    return f"{prefix}:tool-policy"


def llm_policies_key(prefix: str) -> str:
    return f"{prefix}:llm-policy"


def llm_head(prefix: str, model: object) -> str:
    """``<prefix>:llm:<model>:``: the one place the LLM-response key layout is written."""
    return _llm_head(prefix, model if type(model) is str else _exact(model, "model"))


@functools.lru_cache(maxsize=256)
def _llm_head(prefix: str, model: str) -> str:
    return f"{prefix}:llm:{encode_name(model, 'model')}:"


def llm_pattern(prefix: str, model: object) -> str:
    """The SCAN MATCH pattern of exactly this model's responses (head, then one digest)."""
    return llm_head(prefix, model) + "[0-9a-f]" * DIGEST_CHARS


# --- the semantic tier --------------------------------------------------------------------------------
# A scope's index lives under one hash tag, its scope digest, so one script reads and writes all of
# it and scopes spread over the slots; the caller's scope digest sits before it, so a tenant's scopes
# are found by one SCAN pattern::
#
#     <prefix>:sem:<model>:<caller digest>:{<scope digest>}:m     hash: seq, n (entries), exp
#     ...:{<scope digest>}:v | :r | :c | :t                       hashes: id -> vector | entry | codes; text -> id
#     ...:{<scope digest>}:x | :u                                 sorted sets: id -> expiry | last use (ms)
#     ...:{<scope digest>}:b<band>                                hash: band code -> ids (4 bytes each)
#     <prefix>:sem-emb:<embedder>:<text digest>                   a text's embedding (float32), with a TTL

_HEX = "[0-9a-f]" * DIGEST_CHARS


def semantic_head(prefix: str, model: object, caller: str, scope: str) -> str:
    """``<prefix>:sem:<model>:<caller digest>:{<scope digest>}:``: what a scope's keys start with."""
    return f"{prefix}:sem:{encode_name(model, 'model')}:{caller}:{{{scope}}}:"


def semantic_model_pattern(prefix: str, model: object) -> str:
    """The SCAN MATCH pattern of the meta keys of exactly this model's scopes."""
    return f"{prefix}:sem:{encode_name(model, 'model')}:{_HEX}:{{{_HEX}}}:m"


def semantic_caller_pattern(prefix: str, caller: str) -> str:
    """The SCAN MATCH pattern of the meta keys of every scope with this caller digest (any model)."""
    return f"{prefix}:sem:*:{caller}:{{{_HEX}}}:m"


def semantic_embedding_key(prefix: str, embedder: object, text_digest: str) -> str:
    """Where a text's embedding by ``embedder`` is kept (spread over slots by the text's digest)."""
    return f"{prefix}:sem-emb:{encode_name(embedder, 'embedder name')}:{text_digest}"


# --- framework checkpoints (the checkpoint tier) ----------------------------------------------------
# A thread's checkpoints sit under the session tier's hash tag of the same id, in five keys::
#
#     <prefix>:langgraph:{<thread>}:idx    sorted set (all scores 0, ordered by member): <ns> NUL <id>
#     <prefix>:langgraph:{<thread>}:cp     hash: <ns> NUL <id> -> the checkpoint entry
#     <prefix>:langgraph:{<thread>}:runs   hash: <ns> NUL <id> -> the run id that made it
#     <prefix>:langgraph:{<thread>}:w      hash: <ns> NUL <id> NUL <task> NUL <idx> -> one pending write
#     <prefix>:langgraph:{<thread>}:widx   sorted set of the write fields (a checkpoint's are a lex range)
#
# Namespaces, checkpoint ids and task ids are escaped like any name (control characters become
# %XX), so NUL separates them unambiguously and ``<member> NUL \xff`` bounds a member's writes.

CHECKPOINT_FRAMEWORK = "langgraph"
CHECKPOINT_PARTS = ("idx", "cp", "runs", "w", "widx")
MAX_CHECKPOINT_PART_BYTES = MAX_NAME_BYTES


@dataclass(frozen=True, slots=True)
class CheckpointKeys:
    """The five keys of one thread's checkpoints, in :data:`CHECKPOINT_PARTS` order."""

    idx: str
    cp: str
    runs: str
    w: str
    widx: str

    @property
    def all(self) -> list[str]:
        return [self.idx, self.cp, self.runs, self.w, self.widx]


def checkpoint_keys(prefix: str, thread_id: object) -> CheckpointKeys:
    return _checkpoint_keys(prefix, thread_id if type(thread_id) is str else _exact(thread_id, "thread_id"))


@functools.lru_cache(maxsize=4096)
def _checkpoint_keys(prefix: str, thread_id: str) -> CheckpointKeys:
    head = f"{prefix}:{CHECKPOINT_FRAMEWORK}:{{{encode_name(thread_id, 'thread_id')}}}:"
    return CheckpointKeys(*(head + part for part in CHECKPOINT_PARTS))


def checkpoint_index_pattern(prefix: str) -> str:
    """The SCAN MATCH pattern of every thread's checkpoint index (thread-less listings)."""
    return f"{prefix}:{CHECKPOINT_FRAMEWORK}:{{*}}:idx"


def checkpoint_thread_of(prefix: str, key: bytes | str) -> str | None:
    """The thread id of a checkpoint index key, or None for a key that is not one."""
    text = key.decode(errors="surrogateescape") if isinstance(key, bytes) else key
    head, tail = f"{prefix}:{CHECKPOINT_FRAMEWORK}:{{", "}:idx"
    if not (text.startswith(head) and text.endswith(tail)) or len(text) <= len(head) + len(tail):
        return None
    inner = text[len(head) : -len(tail)]
    return None if "{" in inner or "}" in inner else decode_name(inner)


def checkpoint_part(name: object, what: str) -> str:
    """A namespace, checkpoint id or task id escaped for a checkpoint member (may be empty)."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a str, not {type(name).__name__}")
    return check_name(name, what).translate(_ESCAPES) if name else ""


def checkpoint_member(namespace: str, checkpoint_id: str) -> str:
    """``<ns> NUL <id>``: a checkpoint's member in the index and its field in the entry hashes."""
    return checkpoint_part(namespace, "checkpoint_ns") + "\x00" + checkpoint_part(checkpoint_id, "checkpoint_id")


# --- rate limits (the limits tier) -------------------------------------------------------------------


def limit_key(prefix: str, name: object) -> str:
    """``<prefix>:limit:{<name>}``: one small string per limited name (its theoretical arrival time),
    in the slot of the name's quota keys (:func:`quota_keys`)."""
    return f"{prefix}:limit:{{{encode_name(name, 'name')}}}"


def quota_keys(prefix: str, name: object, thread_digest: str) -> tuple[str, str, str]:
    """A limited name's quota window (hash), the threads it wrote in it (set of digests), and the
    keys it wrote to the thread of ``thread_digest`` (set of digests): ``<prefix>:quota:{<name>}``,
    ``...:threads``, ``...:keys:<digest>``. One slot with :func:`limit_key` of the same name."""
    head = f"{prefix}:quota:{{{encode_name(name, 'name')}}}"
    return head, f"{head}:threads", f"{head}:keys:{thread_digest}"


# --- the monitor (history over time, primaries seen; the dashboard reads them) ----------------------
# Kept in the slot of the stats hash: their hash tag is the stats key's own name, so one script reads
# the shared counts and writes the history in one round trip, on one server or a cluster::
#
#     <prefix>:timings:{<prefix>:stats}        hash: per operation calls, errors, near-cache hits and
#                                              latency buckets, summed over the processes that ship them
#     <prefix>:history:{<prefix>:stats}        sorted set: one entry (JSON) per interval, scored by its
#                                              time (Unix ms); entries older than the kept span are trimmed
#     <prefix>:history-last:{<prefix>:stats}   hash: the counts when the newest entry was taken
#     <prefix>:primaries:{<prefix>:stats}      hash: primaries seen (run id -> first seen), and the changes


def _monitor_key(prefix: str, name: str) -> str:
    return f"{prefix}:{name}:{{{stats_key(prefix)}}}"


def timings_key(prefix: str) -> str:
    return _monitor_key(prefix, "timings")


def history_key(prefix: str) -> str:
    return _monitor_key(prefix, "history")


def history_last_key(prefix: str) -> str:
    return _monitor_key(prefix, "history-last")


def primaries_key(prefix: str) -> str:
    return _monitor_key(prefix, "primaries")


def census_heads(prefix: str) -> list[tuple[str, str]]:
    """What the keys of each tier start with, as (tier, head), most specific first; the monitor
    counts a server's keys by them (``<prefix>:`` last: ours, of no tier above)."""
    p = prefix
    return [
        ("session", f"{p}:session:"),
        ("session", f"{p}:parts:"),
        ("tool", f"{p}:tool:"),
        ("tool", f"{p}:tool-policy"),
        ("llm", f"{p}:llm:"),
        ("llm", f"{p}:llm-policy"),
        ("semantic", f"{p}:sem:"),
        ("semantic", f"{p}:sem-emb:"),
        ("conversations", f"{p}:conv:"),
        ("conversations", f"{p}:conv-"),
        ("checkpoints", f"{p}:{CHECKPOINT_FRAMEWORK}:"),
        ("limits", f"{p}:limit:"),
        ("limits", f"{p}:quota:"),
        ("store", f"{p}:store"),
        ("monitor", f"{p}:stats"),
        ("monitor", f"{p}:timings:"),
        ("monitor", f"{p}:history"),
        ("monitor", f"{p}:primaries:"),
        ("other", f"{p}:"),
    ]


# --- the long-term memory store (the store tier) ----------------------------------------------------
# A namespace (a tuple of labels) is one hash tag: its items and the keys that index them share one
# slot, so one script reads, filters and refreshes a namespace on a cluster too::
#
#     <prefix>:store:{<ns>}:idx       sorted set: the namespace's item keys, scored by insertion order
#     <prefix>:store:{<ns>}:meta      hash: seq (the last insertion number), reg ('1': in the registry)
#     <prefix>:store:{<ns>}:forever   set: its items without a TTL (while any, idx and meta never expire)
#     <prefix>:store:{<ns>}:i:<key>   hash: one item: v (value envelope), c and u (created, updated: µs)
#     <prefix>:store-ns:{<root>}      sorted set (all scores 0): the namespaces whose first label is <root>
#     <prefix>:store-roots            sorted set (all scores 0): the first labels that have a registry
#
# ``<ns>`` is the labels escaped and joined by '.', which no label holds (LangGraph's rule too). A
# registry member is the labels as they are, joined by NUL (which no label holds either), so a
# registry's lexical order is the namespaces' tuple order and a namespace's descendants are one
# lexical range of its root's registry: a search or a listing under a prefix reads one key. The
# registries list every namespace that has items, and maybe some that no longer do (expired):
# readers check and prune.

STORE_LABEL_FORBIDDEN = (".", "\x00")


def check_store_namespace(namespace: object, what: str = "namespace", *, empty: bool = False) -> tuple[str, ...]:
    """``namespace`` as a tuple of labels, or :class:`InvalidNameError`: a tuple (or list) of
    non-empty ``str`` without '.' or NUL, each a name by :func:`check_name`; empty only if allowed."""
    if isinstance(namespace, str) or not isinstance(namespace, tuple | list):
        raise InvalidNameError(f"{what} must be a tuple of str labels, not {type(namespace).__name__}")
    labels = tuple(namespace)
    if not labels and not empty:
        raise InvalidNameError(f"{what} must have at least one label")
    for label in labels:
        check_name(label, f"{what} label")
        if "." in label or "\x00" in label:
            raise InvalidNameError(f"{what} label {label!r} holds '.' or NUL, which separate labels")
    return labels


@dataclass(frozen=True, slots=True)
class StoreNamespaceKeys:
    """The keys of one namespace of the store: its index, meta hash and forever set, and the head
    its item keys start with."""

    idx: str
    meta: str
    forever: str
    head: str

    @property
    def all(self) -> list[str]:
        """The three keys every namespace script gets (in this order: the scripts' KEYS[1..3])."""
        return [self.idx, self.meta, self.forever]

    def item(self, member: str) -> str:
        """The key of the item whose escaped key is ``member`` (see :func:`store_member`)."""
        return self.head + member


def store_namespace_keys(prefix: str, namespace: tuple[str, ...]) -> StoreNamespaceKeys:
    """The keys of a namespace (checked with :func:`check_store_namespace` by the caller)."""
    return _store_namespace_keys(prefix, namespace)


@functools.lru_cache(maxsize=4096)
def _store_namespace_keys(prefix: str, namespace: tuple[str, ...]) -> StoreNamespaceKeys:
    tag = ".".join(encode_name(label, "namespace label") for label in namespace)
    base = f"{prefix}:store:{{{tag}}}:"
    return StoreNamespaceKeys(base + "idx", base + "meta", base + "forever", base + "i:")


def store_member(key: object) -> str:
    """An item key escaped for its namespace's index and its own key name (may be empty)."""
    if not isinstance(key, str):
        raise InvalidNameError(f"key must be a str, not {type(key).__name__}")
    return check_name(key, "key").translate(_ESCAPES) if key else ""


def store_key_of(member: bytes | str) -> str:
    """Invert :func:`store_member`."""
    return decode_name(member.decode() if isinstance(member, bytes) else member)


def store_registry_member(namespace: tuple[str, ...]) -> str:
    """A namespace as the registry lists it: its labels joined by NUL."""
    return "\x00".join(namespace)


def store_registry_namespace(member: bytes | str) -> tuple[str, ...]:
    """Invert :func:`store_registry_member`."""
    return tuple((member.decode() if isinstance(member, bytes) else member).split("\x00"))


def store_registry(prefix: str, root: str) -> str:
    """``<prefix>:store-ns:{<root>}``: the registry of the namespaces whose first label is ``root``."""
    return f"{prefix}:store-ns:{{{encode_name(root, 'namespace label')}}}"


def store_roots(prefix: str) -> str:
    """``<prefix>:store-roots``: the first labels that have a registry (for listings without one)."""
    return f"{prefix}:store-roots"
