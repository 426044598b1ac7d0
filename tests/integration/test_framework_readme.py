"""The documents' framework and observer examples (fenced ``python {langgraph}``, ``{openai-agents}``,
``{langchain}``, ``{adk}``, ``{pydantic-ai}``, ``{llama-index}``, ``{strands}``, ``{observers}``) run as
written, each in a fresh interpreter, on the bundled server; the OpenAI Agents SDK (and Pydantic AI's
and Strands' OpenAI models) find the loopback model server through its own environment variables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fake_models import FakeModelServer
from tests.unit.test_framework_readme import BLOCKS, WHERE


@pytest.mark.parametrize(("framework", "code"), BLOCKS, ids=WHERE)
def test_readme_framework_example_runs(framework: str, code: str, fake_models: FakeModelServer) -> None:
    fake_models.reset()
    fake_models.delay = 0
    env = {**os.environ, "OPENAI_BASE_URL": fake_models.openai_url, "OPENAI_API_KEY": "test"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"the {framework} example failed:\n{done.stderr}"
    if framework == "openai-agents":
        assert done.stdout.strip() == "heard: My name is Ada. | What is my name?"
        assert fake_models.calls["responses"] == 2
        if "OpenAIResponsesCompactionSession" in code:  # the history compaction example compacted
            assert fake_models.calls["compact"] >= 1
    if framework in ("pydantic-ai", "strands"):
        assert done.stdout.strip() == "heard: My name is Ada. | What is my name?"
