"""Encryption at rest: AES-256-GCM over every stored value, under named keys that rotate.

:class:`Encryption` is the ``encryption=`` option: an ordered list of named 256-bit keys. The first
encrypts; every one decrypts, so a new key is put first, the workers restart one by one (each
reads what the others wrote either way), then ``agentcache rekey`` re-encrypts what is stored under
the new key and the old one can go. :class:`Sealer` does the work (``cryptography``'s AESGCM, the
``encryption`` extra); it is made when a cache is opened, so ``import agentcache`` never imports
``cryptography``.

A sealed blob is ``[name length][key name][12-byte random nonce][ciphertext + 16-byte tag]``. The
associated data (authenticated, not stored) binds it to what it is (``kind``), to the key name, and
to where it is stored (``context``: the value's header and its Valkey key, see ``codec.seal``), so a
value copied to another key, another thread or another hash field fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from typing import Any

from agentcache.errors import DecryptionError, InvalidArgumentError, missing_extra

KEY_BYTES = 32
"""AES-256: every key is 32 bytes."""
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_KEY_NAME_BYTES = 64
ENV_KEYS = "AGENTCACHE_ENCRYPTION_KEYS"
"""The environment variable :meth:`Encryption.from_env` reads: ``name:key,name:key`` (keys in
base64), the key that encrypts first."""
ENV_ID_KEY = "AGENTCACHE_ID_KEY"
"""The environment variable :meth:`Encryption.from_env` reads the ``id_key`` from, if it is set."""


def _key_bytes(name: str, key: object) -> bytes:
    if isinstance(key, str):
        try:
            key = base64.urlsafe_b64decode(key.strip() + "=" * (-len(key.strip()) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidArgumentError(f"encryption key {name!r} is not base64 text: {exc}") from None
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise InvalidArgumentError(
            f"encryption key {name!r} must be {KEY_BYTES} bytes (or their base64), not {size}; "
            "make one with Encryption.generate_key()"
        )
    return bytes(key)


def _key_name(name: object) -> str:
    if not isinstance(name, str) or not name or not name.isascii() or not name.isprintable():
        raise InvalidArgumentError(f"an encryption key's name must be a non-empty printable ASCII str, not {name!r}")
    if len(name) > MAX_KEY_NAME_BYTES or "," in name or ":" in name:
        raise InvalidArgumentError(
            f"encryption key name {name!r}: at most {MAX_KEY_NAME_BYTES} characters, without ',' or ':'"
        )
    return name


class Encryption:
    """The ``encryption=`` option: AES-256-GCM with named keys, the first of which encrypts.

    ``keys``: a dict ``{name: key}`` or a list of ``(name, key)`` pairs, each key 32 bytes (or their
    base64 text, as :meth:`generate_key` makes). Every key decrypts what was sealed under its name,
    so rotate by putting a new key first and keeping the old ones until ``agentcache rekey`` has
    re-encrypted everything. ``allow_plaintext``: also read values stored before encryption was on
    (by default such a value raises :class:`~agentcache.errors.DecryptionError`: an attacker who
    can write to the server must not be able to plant plaintext); turn it on while migrating, run
    ``agentcache rekey``, then turn it off. ``id_key``: a 32-byte secret (or its base64) that
    replaces the ids users choose (thread, conversation, agent and user ids) in key names by their
    keyed hash (HMAC-SHA256, 128 bits), so the keyspace no longer shows them; unlike ``keys`` it
    never rotates (a new one makes everything stored before unreachable), and a cache that hashes
    ids cannot list checkpoint threads by walking the keyspace. The key bytes never appear in
    ``repr``."""

    __slots__ = ("allow_plaintext", "id_key", "keys")

    def __init__(
        self,
        keys: Mapping[str, bytes | str] | Sequence[tuple[str, bytes | str]],
        *,
        allow_plaintext: bool = False,
        id_key: bytes | str | None = None,
    ) -> None:
        pairs = list(keys.items()) if isinstance(keys, Mapping) else keys
        if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
            raise InvalidArgumentError(f"encryption keys must be a dict of name -> key, not {type(keys).__name__}")
        checked: list[tuple[str, bytes]] = []
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise InvalidArgumentError(f"encryption keys must be (name, key) pairs, not {type(pair).__name__}")
            checked.append((_key_name(pair[0]), _key_bytes(pair[0], pair[1])))
        if not checked:
            raise InvalidArgumentError("encryption needs at least one key (the first encrypts)")
        if len({name for name, _ in checked}) != len(checked):
            raise InvalidArgumentError("encryption key names must be distinct")
        if not isinstance(allow_plaintext, bool):
            raise InvalidArgumentError(f"allow_plaintext must be True or False, not {allow_plaintext!r}")
        self.keys: tuple[tuple[str, bytes], ...] = tuple(checked)
        self.allow_plaintext = allow_plaintext
        self.id_key: bytes | None = None if id_key is None else _key_bytes("id_key", id_key)
        if self.id_key is not None and any(self.id_key == key for _, key in checked):
            raise InvalidArgumentError("id_key must not be one of the encryption keys: make one with generate_key()")

    @property
    def current(self) -> str:
        """The name of the key that encrypts (the first)."""
        return self.keys[0][0]

    @property
    def names(self) -> list[str]:
        """Every key's name, the one that encrypts first."""
        return [name for name, _ in self.keys]

    @staticmethod
    def generate_key() -> str:
        """A new random 256-bit key, as base64 text (keep it in a secret store, not in the code)."""
        return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")

    @classmethod
    def from_env(cls, var: str = ENV_KEYS, *, allow_plaintext: bool = False) -> Encryption:
        """The keys in the environment variable ``var``: ``name:base64key,name:base64key``, the one
        that encrypts first (what ``agentcache rekey`` reads), and the ``id_key`` in
        ``AGENTCACHE_ID_KEY`` if that is set."""
        text = os.environ.get(var, "").strip()
        if not text:
            raise InvalidArgumentError(f"{var} is not set: give the keys as name:base64key,name:base64key")
        pairs: list[tuple[str, bytes | str]] = []
        for item in text.split(","):
            name, sep, key = item.strip().partition(":")
            if not sep:
                raise InvalidArgumentError(f"{var}: each key is name:base64key, not {name[:8]!r}...")
            pairs.append((name, key))
        id_key = os.environ.get(ENV_ID_KEY, "").strip() or None
        return cls(pairs, allow_plaintext=allow_plaintext, id_key=id_key)

    def __repr__(self) -> str:
        hashed = ", id_key=<set>" if self.id_key is not None else ""
        return f"Encryption(keys={self.names!r}, allow_plaintext={self.allow_plaintext}{hashed})"


class Sealer:
    """One cache's AES-GCM ciphers, made from its :class:`Encryption` (imports ``cryptography``)."""

    __slots__ = ("_aead", "_by_name", "_invalid", "_name", "allow_plaintext", "encryption")

    def __init__(self, encryption: Encryption) -> None:
        try:
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:
            raise missing_extra("encryption=", "encryption", exc) from exc
        self.encryption = encryption
        self.allow_plaintext = encryption.allow_plaintext
        self._by_name: dict[bytes, Any] = {name.encode(): AESGCM(key) for name, key in encryption.keys}
        self._name = encryption.current.encode()
        self._aead = self._by_name[self._name]
        self._invalid: type[Exception] = InvalidTag

    @property
    def current(self) -> str:
        """The name of the key that encrypts."""
        return self._name.decode()

    def seal(self, kind: int, plaintext: bytes, context: bytes) -> bytes:
        """``plaintext`` sealed under the current key, bound to ``kind`` and ``context``."""
        name = self._name
        nonce = os.urandom(NONCE_BYTES)
        head = bytes((len(name),)) + name
        sealed: bytes = self._aead.encrypt(nonce, plaintext, bytes((kind,)) + head + context)
        return head + nonce + sealed

    def open(self, kind: int, blob: bytes, context: bytes, where: str) -> bytes:
        """The plaintext of ``blob``; :class:`DecryptionError` naming ``where`` if it cannot be."""
        name = key_name(blob)
        if name is None:
            raise DecryptionError(f"the value at {where!r} is not a sealed value (truncated or corrupt)", where)
        aead = self._by_name.get(name)
        shown = name.decode("ascii", "replace")
        if aead is None:
            raise DecryptionError(
                f"the value at {where!r} was encrypted with key {shown!r}, which is not in this cache's "
                f"keys ({', '.join(self.encryption.names)}): add it to encryption= to read it",
                where,
                shown,
            )
        start = 1 + len(name)
        nonce, sealed = blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]
        try:
            plain: bytes = aead.decrypt(nonce, sealed, bytes((kind,)) + blob[:start] + context)
        except self._invalid:
            raise DecryptionError(
                f"the value at {where!r} does not decrypt with key {shown!r}: it was changed on the server, "
                "or copied there from another key or thread (each value is bound to where it is stored)",
                where,
                shown,
            ) from None
        return plain


def key_name(blob: bytes) -> bytes | None:
    """The key name a sealed blob names (None if the blob is too short to be one)."""
    if not blob:
        return None
    size = blob[0]
    if size == 0 or len(blob) < 1 + size + NONCE_BYTES + TAG_BYTES:
        return None
    return blob[1 : 1 + size]
