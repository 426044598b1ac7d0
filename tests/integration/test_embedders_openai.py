"""The OpenAI embedders through the real SDK against the loopback model (tests/fake_models.py)."""

from __future__ import annotations

import math

import openai
import pytest

from agentcache.embedders import AsyncEmbedder, Embedder
from agentcache.embedders.openai import AsyncOpenAIEmbedder, OpenAIEmbedder
from agentcache.errors import InvalidArgumentError
from tests.fake_models import FakeModelServer

TEXTS = ["reset my password", "password reset please", "book a table", "weather in Oslo", "x", "y", "z"]


def _cos(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def _check(vectors: list[list[float]], server: FakeModelServer) -> None:
    assert len(vectors) == len(TEXTS) and all(len(v) == 16 for v in vectors)
    assert all(math.isclose(_cos(v, v), 1.0, rel_tol=1e-6) for v in vectors)  # normalised by us: the fake is not
    assert _cos(vectors[0], vectors[1]) > _cos(vectors[0], vectors[2])  # in order: shared words are closer
    bodies = [body for api, body in server.requests if api == "embeddings"]
    assert [body["input"] for body in bodies] == [TEXTS[0:3], TEXTS[3:6], TEXTS[6:7]]
    assert {(body["model"], body["dimensions"]) for body in bodies} == {("text-embedding-3-small", 16)}


def test_sync_embedder_batches_and_normalises(fake_models: FakeModelServer) -> None:
    fake_models.reset()
    client = openai.OpenAI(base_url=fake_models.openai_url, api_key="test", max_retries=0)
    embedder = OpenAIEmbedder(client, dimensions=16, batch_size=3)
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.dimensions) == ("openai-text-embedding-3-small-16", 16)
    _check(embedder.embed(TEXTS), fake_models)
    assert embedder.embed([]) == []


async def test_async_embedder_batches_and_normalises(fake_models: FakeModelServer) -> None:
    fake_models.reset()
    client = openai.AsyncOpenAI(base_url=fake_models.openai_url, api_key="test", max_retries=0)
    embedder = AsyncOpenAIEmbedder(client, dimensions=16, batch_size=3)
    assert isinstance(embedder, AsyncEmbedder)
    _check(await embedder.aembed(TEXTS), fake_models)


def test_api_errors_are_the_sdks_and_wrong_dimensions_are_refused(fake_models: FakeModelServer) -> None:
    fake_models.reset()
    client = openai.OpenAI(base_url=fake_models.openai_url, api_key="test", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        OpenAIEmbedder(client, dimensions=16).embed(["FAIL now"])
    with pytest.raises(InvalidArgumentError, match="1536"):
        OpenAIEmbedder(client).embed(["hello"])  # the fake answers 16 dimensions, the model has 1536


@pytest.mark.parametrize(
    ("model", "options"),
    [("my-model", {}), ("text-embedding-3-small", {"batch_size": 0}), ("", {}), ("m", {"dimensions": 0})],
)
def test_bad_settings_are_refused(model: str, options: dict[str, int]) -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test")
    with pytest.raises(InvalidArgumentError):
        OpenAIEmbedder(client, model=model, **options)
