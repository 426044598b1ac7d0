"""The bundled server's options are checked before anything starts (its processes:
tests/integration/test_server_lifecycle.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcache import AgentCache, BundledValkey, InvalidArgumentError


def test_appendfsync_is_checked_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="everysec"):
        AgentCache.embedded(data_dir=tmp_path, appendfsync="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="data_dir"):
        AgentCache.embedded(appendfsync="always")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "options",
    [
        {"replicas": -1},
        {"replicas": 1.5},
        {"mode": "standalone", "replicas": 1},
        {"node_timeout_ms": 50},
        {"node_timeout_ms": "1000"},
    ],
)
def test_bad_cluster_options_are_typed_errors(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        BundledValkey(**options)
