"""Distri's user parts read back exactly as written, with their content stored once (the stored form
only; Distri's clients against the HTTP API: tests/integration/test_http_distri.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

pytest.importorskip("fastapi")


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00\x10pixels" * 300).decode()  # over 1 KiB: stored gzip


@pytest.mark.parametrize(
    "written",
    [
        "a plain string is a text part",
        {"part_type": "text", "data": "Distri's text"},
        {"part_type": "text", "text": "the seed document's text"},
        {"part_type": "data", "flag": 1, "data": 1, "other": True},  # 1 is not True: both come back as sent
        {"part_type": "image", "data": {"type": "bytes", "bytes": "QR==", "mime_type": "image/png"}},  # not canonical
        {"part_type": "image", "bytes": PNG, "mime_type": "image/png", "name": None},
        {"part_type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}, "__metadata": {"save": False}},
    ],
)
def test_a_user_part_reads_back_exactly_as_written_and_its_content_is_stored_once(written: Any) -> None:
    import msgpack

    from agentcache.http.values import user_part
    from agentcache.tiers.content.parts import as_written, to_stored

    part = user_part(written)
    stored = msgpack.unpackb(msgpack.packb(to_stored(part, written)), raw=False)
    assert json.dumps(as_written(stored)) == json.dumps(written)
    extra = len(msgpack.packb(to_stored(part, written))) - len(msgpack.packb(to_stored(part)))
    assert extra < 200  # the JSON around the content: an image's base64 is not stored a second time
