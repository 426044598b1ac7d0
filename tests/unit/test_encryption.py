"""Encryption at rest, offline: the sealed envelope's shapes, what binds a seal, the option's
checks, the missing extra, and the rekey operation's round trips (driven without a server)."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from agentcache import DecryptionError, Encryption, InvalidArgumentError, MissingExtraError
from agentcache.encoding import codec
from agentcache.encoding.encryption import Sealer
from agentcache.options import make_settings
from agentcache.tiers.rekey.tier import rekey
from tests.helpers import drive

KEY = bytes(range(32))
SEALER = Sealer(Encryption({"k1": KEY}))
WHERE = "p:session:{t1}:field"


def test_a_sealed_value_opens_only_where_it_was_stored() -> None:
    plain = codec.encode({"secret": "MARK"}, 60_000, 1 << 20)
    sealed = codec.seal(plain, SEALER, WHERE)
    assert b"MARK" not in sealed and sealed[: codec.HEADER_SIZE] == plain[: codec.HEADER_SIZE]
    assert codec.is_sealed(sealed) and not codec.is_sealed(plain)
    assert codec.slide_ms(sealed) == 60_000  # the header stays readable by the scripts
    assert codec.opened(sealed, SEALER, WHERE) == plain
    for elsewhere in ("p:session:{t1}:other", "p:session:{t2}:field", "q:session:{t1}:field"):
        with pytest.raises(DecryptionError):
            codec.opened(sealed, SEALER, elsewhere)
    assert codec.seal(plain, None, WHERE) is plain  # without a sealer nothing changes


def test_every_changed_byte_is_refused() -> None:
    sealed = codec.seal(codec.encode("MARK", 1000, 1 << 20), SEALER, WHERE)
    for at in range(len(sealed)):
        changed = sealed[:at] + bytes((sealed[at] ^ 0x40,)) + sealed[at + 1 :]
        with pytest.raises(DecryptionError):  # byte 0 too: no longer an envelope, so plaintext, refused
            codec.opened(changed, SEALER, WHERE)
    with pytest.raises(DecryptionError):
        codec.opened(sealed[:-1], SEALER, WHERE)


def test_wrong_keys_plaintext_and_no_keys_give_typed_errors() -> None:
    sealed = codec.seal(codec.encode("MARK", 0, 1 << 20), SEALER, WHERE)
    other = Sealer(Encryption({"k2": bytes(32)}))
    with pytest.raises(DecryptionError, match=r"'k1'.*not in this cache's keys") as caught:
        codec.opened(sealed, other, WHERE)
    assert caught.value.key_name == "k1" and caught.value.key == WHERE
    impostor = Sealer(Encryption({"k1": bytes(32)}))  # the same name, another key
    with pytest.raises(DecryptionError, match="does not decrypt"):
        codec.opened(sealed, impostor, WHERE)
    with pytest.raises(DecryptionError, match="encrypted"):
        codec.opened(sealed, None, WHERE)
    with pytest.raises(DecryptionError, match="encrypted"):
        codec.decode(sealed)  # never handed out as an ExtType
    plain = codec.encode("MARK", 0, 1 << 20)
    with pytest.raises(DecryptionError, match="not encrypted"):
        codec.opened(plain, SEALER, WHERE)
    migrating = Sealer(Encryption({"k1": KEY}, allow_plaintext=True))
    assert codec.opened(plain, migrating, WHERE) == plain


def test_user_parts_keep_their_save_flag_and_join_like_the_attach_script() -> None:
    """conv_write's attach joins stored bytes without decoding them: header, array16, the message
    from its 8th byte, each part from its 10th. The join of sealed pieces opens to the join of plain ones."""
    part = codec.encode([True, {"type": "text", "text": "PART"}], 0, 1 << 20)
    part_key = "p:session:{t1}:__user_part_a"
    sealed_part = codec.seal_part(part, SEALER, part_key)
    assert sealed_part[7:9] == b"\x92\xc3" and b"PART" not in sealed_part
    assert codec.opened(sealed_part, SEALER, part_key) == part
    message = codec.encode({"role": "user", "parts": []}, 0, 1 << 20)
    msgs = "p:conv:{t1}:msgs"
    sealed_message = codec.seal(message, SEALER, msgs)

    def attach(m: bytes, parts: list[bytes]) -> bytes:
        size = len(parts) + 1
        return m[:7] + bytes((0xDC, size // 256, size % 256)) + m[7:] + b"".join(p[9:] for p in parts)

    joined = attach(sealed_message, [sealed_part, sealed_part])
    assert codec.opened(joined, SEALER, msgs) == attach(message, [part, part])
    assert codec.seal_message(attach(message, [part]), SEALER, msgs) != attach(message, [part])
    assert codec.opened(codec.seal_message(attach(message, [part]), SEALER, msgs), SEALER, msgs) == attach(
        message, [part]
    )
    with pytest.raises(DecryptionError):  # a part moved into another thread's conversation
        codec.opened(attach(codec.seal(message, SEALER, "p:conv:{t2}:msgs"), [sealed_part]), SEALER, "p:conv:{t2}:msgs")


def test_rotation_reads_old_keys_and_writes_the_first() -> None:
    old = codec.seal(codec.encode("MARK", 0, 1 << 20), SEALER, WHERE)
    rotated = Sealer(Encryption([("k2", bytes(32)), ("k1", KEY)]))
    assert codec.decode(codec.opened(old, rotated, WHERE)) == "MARK"
    again = codec.resealed(old, rotated, WHERE)
    assert [b[1:3] for b in codec.sealed_blobs(again)] == [b"k2"]
    with pytest.raises(DecryptionError):
        codec.opened(again, SEALER, WHERE)


def test_the_option_is_checked_and_hides_its_keys() -> None:
    encryption = Encryption({"k1": Encryption.generate_key(), "k0": KEY})
    assert encryption.current == "k1" and encryption.names == ["k1", "k0"]
    assert "Encryption(keys=['k1', 'k0']" in repr(encryption) and repr(KEY) not in repr(encryption)
    for bad in ({}, {"k": b"short"}, {"": KEY}, {"a,b": KEY}, [("k", KEY), ("k", KEY)], "k:key"):
        with pytest.raises(InvalidArgumentError):
            Encryption(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="encryption must be"):
        make_settings({"encryption": {"k": KEY}})
    settings, _ = make_settings({"encryption": encryption})
    assert settings.sealer is not None and settings.sealer.current == "k1"


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = Encryption.generate_key(), Encryption.generate_key()
    monkeypatch.setenv("AGENTCACHE_ENCRYPTION_KEYS", f"new:{first}, old:{second}")
    assert Encryption.from_env().names == ["new", "old"]
    monkeypatch.setenv("AGENTCACHE_ENCRYPTION_KEYS", "no-colon")
    with pytest.raises(InvalidArgumentError):
        Encryption.from_env()


def test_without_the_extra_the_option_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``cryptography`` is imported only when a cache is opened with ``encryption=`` (the option's
    class needs none), and its absence is a MissingExtraError naming the extra."""
    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    encryption = Encryption({"k": bytes(32)})
    with pytest.raises(MissingExtraError, match=re.escape("valkey-agentcache[encryption]")):
        make_settings({"encryption": encryption})


def test_rekey_reads_a_step_then_writes_only_what_is_not_under_the_current_key() -> None:
    rotated = Encryption([("k2", bytes(32)), ("k1", KEY)])
    settings, _ = make_settings({"prefix": "p", "encryption": rotated})
    assert settings.sealer is not None
    old = codec.seal(codec.encode("MARK", 0, 1 << 20), SEALER, WHERE)
    fresh = codec.seal(codec.encode("MARK", 0, 1 << 20), settings.sealer, "p:session:{t1}:b")
    scan = [b"7", [WHERE.encode(), b"p:session:{t1}:b", b"p:stats"]]
    batches, step = drive(rekey(settings, None, count=10), [[scan], [old, fresh], [1]])
    assert [len(b) for b in batches] == [1, 2, 1]  # SCAN; the two GETs; one compare-and-set
    assert (step.cursor, step.examined, step.rewritten, step.current, step.changed) == ("0:7", 3, 1, 1, 0)
    args = batches[2][0].args
    assert args[-2] == old and codec.sealed_blobs(args[-1])[0][1:3] == b"k2"
    with pytest.raises(InvalidArgumentError):
        drive(rekey(make_settings({})[0]), [])


def test_bare_bytes_and_text_seal_like_values_and_plaintext_is_refused() -> None:
    """Checkpoint entries and a conversation's system prompt and summary have no envelope: sealed,
    they become one (no TTL), bound to where they are stored; plaintext passes only when allowed."""
    where = codec.hash_where("p:langgraph:{t1}:cp", "\x001")
    sealed = codec.seal_bytes(b"\x97MARK", SEALER, where)
    assert b"MARK" not in sealed and codec.is_sealed(sealed) and codec.slide_ms(sealed) == 0
    assert codec.opened_bytes(sealed, SEALER, where) == b"\x97MARK"
    with pytest.raises(DecryptionError):
        codec.opened_bytes(sealed, SEALER, codec.hash_where("p:langgraph:{t1}:cp", "\x002"))
    with pytest.raises(DecryptionError, match="encrypted"):
        codec.opened_bytes(sealed, None, where)
    with pytest.raises(DecryptionError, match="not encrypted"):
        codec.opened_bytes(b"\x97MARK", SEALER, where)
    assert codec.opened_bytes(b"\x97MARK", None, where) == b"\x97MARK"
    migrating = Sealer(Encryption({"k1": KEY}, allow_plaintext=True))
    assert codec.opened_bytes(b"\x97MARK", migrating, where) == b"\x97MARK"
    again = codec.resealed(b"\x97MARK", migrating, where, bare=True)
    assert codec.opened_bytes(again, SEALER, where) == b"\x97MARK"
    text = codec.seal_text("système MARK", SEALER, where)
    assert isinstance(text, bytes) and codec.opened_text(text, SEALER, where) == "système MARK"
    assert codec.seal_text("plain", None, where) == "plain"


def test_rekey_finds_checkpoints_store_items_and_the_conversation_texts() -> None:
    from agentcache.encoding.keys import sealed_kind
    from agentcache.tiers.checkpoints.tier import write_member
    from agentcache.tiers.rekey.tier import write_member as rekey_write_member

    kinds = {
        "p:langgraph:{t1}:cp": "checkpoints",
        "p:langgraph:{t1}:w": "writes",
        "p:langgraph:{t1}:idx": None,
        "p:langgraph:{t1}:runs": None,
        "p:langgraph:{a%7Db}:cp": "checkpoints",
        "p:store:{ns.x}:i:key": "item",
        "p:store:{ns.x}:i:": "item",
        "p:store:{ns.x}:idx": None,
        "p:store:{ns.x}:meta": None,
        "p:store-ns:{ns}": None,
        "p:conv:{c1}:meta": "meta",
        "p:session:{t1}:f": "value",
    }
    assert {key: sealed_kind("p", key) for key in kinds} == kinds
    for field in ("ns\x00id\x00task\x00-1", "\x00id\x00t\x000", "a\x00b"):
        assert write_member(field) == rekey_write_member(field) == "\x00".join(field.split("\x00")[:2])


def test_rekey_reseals_checkpoint_fields_and_skips_the_writes_mark() -> None:
    rotated = Encryption([("k2", bytes(32)), ("k1", KEY)])
    settings, _ = make_settings({"prefix": "p", "encryption": rotated})
    cp, w = "p:langgraph:{t1}:cp", "p:langgraph:{t1}:w"
    entry = codec.seal_bytes(b"entry", SEALER, codec.hash_where(cp, "\x001"))
    write = codec.seal_bytes(b"write", SEALER, codec.hash_where(w, "\x001"))
    scan = [b"0", [cp.encode(), w.encode()]]
    replies: list[Any] = [[scan], [{b"\x001": entry, b"#writes": b"1"}, {b"\x001\x00task\x000": write}], [1, 1]]
    batches, step = drive(rekey(settings, None, count=10), replies)
    assert [c.args[0] for c in batches[1]] == ["HGETALL", "HGETALL"]
    assert (step.rewritten, step.current, step.unreadable) == (2, 0, [])
    cp_args, w_args = batches[2][0].args, batches[2][1].args
    assert cp_args[4] == "hash" and cp_args[5] == b"\x001" and w_args[5] == b"\x001\x00task\x000"
    assert settings.sealer is not None
    assert codec.opened_bytes(cp_args[7], settings.sealer, codec.hash_where(cp, "\x001")) == b"entry"
    assert codec.opened_bytes(w_args[7], settings.sealer, codec.hash_where(w, "\x001")) == b"write"


def test_a_filtered_store_search_is_judged_in_this_process_with_encryption() -> None:
    """The search script cannot read sealed values: it is sent no conditions and no page, and
    this process decrypts and filters what it returns (a search without a filter still pages on
    the server)."""
    from agentcache.tiers.store.tier import search

    settings, _ = make_settings({"prefix": "p", "encryption": Encryption({"k1": KEY})})
    plain, _ = make_settings({"prefix": "p"})
    item = "p:store:{ns}:i:"

    def row(key: str, value: object) -> list[object]:
        raw = codec.encode(value, 0, 1 << 20)
        return [key.encode(), codec.seal(raw, settings.sealer, codec.hash_where(item + key, "v")), b"1", b"2"]

    reply: Any = [0, 0, 2, b"", *row("a", {"kind": "x"}), *row("b", {"kind": "y"})]
    batches, found = drive(search(settings, ("ns",), filter={"kind": "y"}, refresh=False), [[[], reply]])
    args = batches[0][1].args
    assert args[-3:] == ("", "", 1000)  # limit '' (every item), from '', the budget; then no conditions
    assert [i.key for i in found] == ["b"]
    batches, _ = drive(search(plain, ("ns",), filter={"kind": "y"}, refresh=False), [[[], [1, 0, 0, b""]]])
    assert batches[0][1].args[-4:] == ("kind", "eq", "s", "y")  # without encryption the server filters
    batches, _ = drive(search(settings, ("ns",), refresh=False), [[[], [1, 0, 0, b""]]])
    assert batches[0][1].args[-3:] == (10, "", 1000)  # no filter: the server pages


def test_an_id_key_hashes_ids_in_key_names_and_checks_them_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentcache import InvalidNameError
    from agentcache.tiers.session.tier import get

    id_key = Encryption.generate_key()
    encryption = Encryption({"k1": KEY}, id_key=id_key)
    assert "id_key=<set>" in repr(encryption) and id_key not in repr(encryption)
    settings, _ = make_settings({"encryption": encryption})
    named = settings.key_id("thread-1")
    assert re.fullmatch(r"~[0-9a-f]{32}", named) and settings.key_id("thread-1") == named
    assert settings.key_id("thread-2") != named and "thread-1" not in repr(settings.ids)
    other, _ = make_settings({"encryption": Encryption({"k1": KEY}, id_key=Encryption.generate_key())})
    assert other.key_id("thread-1") != named  # another id key: another keyspace
    plain, _ = make_settings({"encryption": Encryption({"k1": KEY})})
    assert plain.key_id("thread-1") == "thread-1"
    for bad in ("", 7, "x" * 2000):
        with pytest.raises(InvalidNameError):
            drive(get(settings, bad, "field"), [])  # type: ignore[arg-type]  # refused before a command
    with pytest.raises(InvalidArgumentError, match="id_key must not be one of the encryption keys"):
        Encryption({"k1": KEY}, id_key=KEY)
    for bad_key in (b"short", "not base64!", 32):
        with pytest.raises(InvalidArgumentError, match="id_key"):
            Encryption({"k1": KEY}, id_key=bad_key)  # type: ignore[arg-type]
    monkeypatch.setenv("AGENTCACHE_ENCRYPTION_KEYS", f"k1:{Encryption.generate_key()}")
    monkeypatch.setenv("AGENTCACHE_ID_KEY", id_key)
    assert Encryption.from_env().id_key == encryption.id_key
