"""The semantic tier offline: what is the prompt and what is scope, the index's codes, round trips
(driven by tests.helpers.drive, no server), and the statistics' parsing."""

from __future__ import annotations

from typing import Any

import pytest

from agentcache.core.commands import Call
from agentcache.encoding.keys import semantic_caller_pattern, semantic_head, semantic_model_pattern
from agentcache.options import make_settings
from agentcache.stats import parse
from agentcache.tiers.llm.request import canonical_request
from agentcache.tiers.semantic import index
from agentcache.tiers.semantic.scope import caller_digest, split_prompt
from agentcache.tiers.semantic.tier import SemanticContext, check, fetch_or_compute, store
from tests.helpers import drive, names
from tests.semantic_fakes import WordsEmbedder

ASK = {"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]}


def context() -> SemanticContext:
    settings, _ = make_settings({"prefix": "p"})
    ctx = SemanticContext(settings)
    ctx.config = ctx.config.__class__(embedder=WordsEmbedder(), threshold=0.8)
    return ctx


def test_the_prompt_is_the_last_user_text_in_each_api() -> None:
    chat = split_prompt(canonical_request(ASK))
    assert chat is not None and chat[0] == "hi there" and chat[1]["messages"][0] == ASK["messages"][0]
    parts = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
    }
    assert split_prompt(canonical_request(parts))[0] == "a\nb"  # type: ignore[index]
    assert split_prompt(canonical_request({"model": "m", "input": "hello"}))[0] == "hello"  # type: ignore[index]
    responses = {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]}
    assert split_prompt(canonical_request(responses))[0] == "x"  # type: ignore[index]
    image = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}],
    }
    tool = {"model": "m", "messages": [{"role": "tool", "content": "r", "tool_call_id": "1"}]}
    for request in (
        image,
        tool,
        {"model": "m", "messages": []},
        {"model": "m", "messages": [{"role": "user", "content": " "}]},
    ):
        assert split_prompt(canonical_request(request)) is None


def test_scopes_differ_by_everything_but_the_prompt() -> None:
    ctx = context()
    from agentcache.tiers.semantic.tier import Prepared

    def meta(request: dict[str, Any], scope: dict[str, str] | None = None) -> str:
        return Prepared(ctx, request, scope, None).meta

    same = meta({**ASK, "messages": [ASK["messages"][0], {"role": "user", "content": "other words"}]})
    assert meta(ASK) == same
    assert meta(ASK, {"tenant": "a"}) != meta(ASK, {"tenant": "b"}) != meta(ASK)
    assert meta({**ASK, "temperature": 0}) != meta(ASK) != meta({**ASK, "model": "n"})
    head = semantic_head("p", "m", caller_digest({"tenant": "a"}), "0" * 32)
    assert head.startswith("p:sem:m:") and "{" + "0" * 32 + "}" in head


def test_the_key_patterns_match_one_model_and_one_caller() -> None:
    import fnmatch

    caller = caller_digest({})
    key = semantic_head("p", "a", caller, "f" * 32) + "m"
    other = semantic_head("p", "a:b", caller, "f" * 32) + "m"
    assert fnmatch.fnmatchcase(key, semantic_model_pattern("p", "a"))
    assert not fnmatch.fnmatchcase(other, semantic_model_pattern("p", "a"))
    assert fnmatch.fnmatchcase(other, semantic_caller_pattern("p", caller))
    assert not fnmatch.fnmatchcase(key, semantic_caller_pattern("p", caller_digest({"tenant": "x"})))


def test_band_codes_are_fixed_and_probes_are_one_bit_away() -> None:
    vector = index.as_vector(WordsEmbedder().embed(["hello world"])[0], 64)
    own, probes = index.codes(vector)
    assert (own, probes) == index.codes(vector.copy())  # the same in every process: BLAKE2b hyperplanes
    assert len(own) == 2 * index.BANDS and len(probes) == 2 * index.BANDS * (1 + index.FLIPS)
    per = 1 + index.FLIPS
    for band in range(index.BANDS):
        codes = [int.from_bytes(probes[2 * (band * per + p) : 2 * (band * per + p) + 2], "little") for p in range(per)]
        assert codes[0] == int.from_bytes(own[2 * band : 2 * band + 2], "little")
        assert all(bin(code ^ codes[0]).count("1") == 1 for code in codes[1:])


def test_a_vector_of_the_wrong_size_or_zero_is_refused() -> None:
    from agentcache.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        index.as_vector([1.0, 0.0], 3)
    with pytest.raises(InvalidArgumentError):
        index.as_vector([0.0, 0.0], 2)


def test_round_trips_of_check_and_store() -> None:
    ctx = context()
    batches, found = drive(check(ctx, ASK), [[None], [[0], "OK"]])
    assert names(batches) == [["GET"], ["EVALSHA semantic_lookup", "SET"]]  # embedding read, then lookup + keep it
    assert not found.hit
    batches, _ = drive(check(ctx, ASK), [[[0]]])  # embedded lately: the lookup alone
    assert names(batches) == [["EVALSHA semantic_lookup"]]
    batches, stored = drive(store(ctx, ASK, {"a": 1}, ttl=60), [[[b"\x01\x00\x00\x00", 0]]])
    assert stored is True and names(batches) == [["EVALSHA semantic_store"]]


def test_get_or_compute_reads_the_exact_entry_and_the_embedding_together() -> None:
    ctx = context()
    batches, result = drive(
        fetch_or_compute(ctx, ASK, Call(lambda: {"x": 1}), ttl=60),
        [[None, None], [[0], "OK"], [None], ["OK"], [[b"\x01\x00\x00\x00", 0]]],
    )
    assert names(batches) == [
        ["GET", "GET"],  # the exact entry and the embedding
        ["EVALSHA semantic_lookup", "SET"],  # the index, keeping the embedding
        ["EVALSHA tool_claim"],  # the exact tier's single flight claims the key, the model is called
        ["SET"],
        ["EVALSHA semantic_store"],
    ]
    assert result.response == {"x": 1} and not result.hit


def test_statistics_parse_the_semantic_fields() -> None:
    raw = {
        b"semantic/hits": b"3",
        b"semantic/misses": b"2",
        b"semantic/uncertain": b"1",
        b"semantic/hits/m": b"3",
        b"semantic/cost_saved": b"1.5",
        b"semantic/similarity/0.93": b"2",
        b"semantic/similarity/junk": b"2",
        b"semantic/novel": b"9",
    }
    stats = parse(raw)
    assert (stats.semantic.hits, stats.semantic.misses, stats.semantic.uncertain) == (3, 2, 1)
    assert stats.semantic.cost_saved == 1.5 and stats.semantic.similarity == {0.93: 2}
    assert stats.semantic_models["m"].hits == 3


def test_rekey_finds_and_reseals_semantic_entries_and_embeddings() -> None:
    """With ``encryption=``: the scope's entries hash and cached embeddings are sealed data (rekey
    walks them); its vectors, band codes and other index keys are not."""
    from agentcache.encoding import codec
    from agentcache.encoding.encryption import Encryption, Sealer, key_name
    from agentcache.encoding.keys import sealed_kind, semantic_embedding_key
    from agentcache.tiers.rekey.tier import rekey
    from agentcache.tiers.semantic.tier import entries_key

    head = semantic_head("p", "gpt-x", "ab" * 8, "cd" * 8)
    embedding = semantic_embedding_key("p", "test-words-64", "ef" * 16)
    kinds: dict[str, str | None] = {head + part: None for part in ("m", "v", "c", "t", "x", "u", "b1", "b32")}
    kinds |= {head + "r": "semantic", embedding: "embedding", "p:sem:a%7Db:x:{s}:r": "semantic"}
    assert {key: sealed_kind("p", key) for key in kinds} == kinds
    assert entries_key(head + "m") == head + "r"

    old = Sealer(Encryption({"k1": bytes(32)}))
    settings, _ = make_settings(
        {"prefix": "p", "encryption": Encryption([("k2", bytes(range(32))), ("k1", bytes(32))])}
    )
    entry = codec.seal(codec.encode(["answer", 0, 0, None, 0, 0, "prompt"], 0, 1 << 20), old, head + "r")
    vector = codec.seal_bytes(b"\x00" * 16, old, embedding)
    scan = [b"0", [(head + "r").encode(), embedding.encode(), (head + "v").encode()]]
    batches, step = drive(rekey(settings, None, count=10), [[scan], [{b"\x01\x00\x00\x00": entry}, vector], [1, 1]])
    assert [c.args[0] for c in batches[1]] == ["HGETALL", "GET"]  # the vectors' hash is not read
    assert (step.rewritten, step.current, step.unreadable) == (2, 0, [])
    entry_args, vector_args = batches[2][0].args, batches[2][1].args
    assert entry_args[4] == "hash" and entry_args[5] == b"\x01\x00\x00\x00" and vector_args[4] == "value"
    assert settings.sealer is not None and settings.sealer.current == "k2"
    assert codec.opened(entry_args[7], settings.sealer, head + "r") == codec.opened(entry, old, head + "r")
    assert codec.opened_bytes(vector_args[7], settings.sealer, embedding) == b"\x00" * 16
    assert [key_name(codec.sealed_blobs(new)[0]) for new in (entry_args[7], vector_args[7])] == [b"k2", b"k2"]
