"""What a new user meets first, checked without a server: misspelt options, the CLI's names and
numbers (issue 28)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcache import AgentCache, AsyncAgentCache, InvalidArgumentError
from agentcache.cli import benchmark_names, main
from agentcache.core.connect import client_option_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("facade", [AgentCache, AsyncAgentCache])
def test_a_misspelt_option_is_refused_by_name_before_anything_is_sent(facade: type[AgentCache]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'sesion_ttl' \(did you mean 'session_ttl'\?\)"):
        facade.from_url("valkey://127.0.0.1:1", sesion_ttl=60)
    with pytest.raises(InvalidArgumentError, match=r"'nonsense'.*valkey-py client takes"):
        facade.from_url("valkey://127.0.0.1:1", nonsense=1)


@pytest.mark.parametrize("facade", [AgentCache, AsyncAgentCache])
def test_every_constructor_says_which_option_was_meant(facade: type[AgentCache]) -> None:
    misspelt: dict[str, Any] = {"sesion_ttl": 60}
    nonsense: dict[str, Any] = {"nonsense": 1}
    for make in (facade.in_memory, facade.embedded, lambda **kw: facade(object(), **kw)):
        with pytest.raises(InvalidArgumentError, match=r"'sesion_ttl' \(did you mean 'session_ttl'\?\)"):
            make(**misspelt)
        with pytest.raises(InvalidArgumentError, match=r"unknown option\(s\) 'nonsense': the cache's options"):
            make(**nonsense)


def test_client_options_still_reach_the_client() -> None:
    cache = AgentCache.from_url("valkey://127.0.0.1:1", socket_timeout=2.5, max_connections=3, session_ttl=5)
    assert cache.client.connection_pool.connection_kwargs["socket_timeout"] == 2.5
    assert cache.client.connection_pool.max_connections == 3
    assert {"socket_timeout", "ssl_ca_certs", "username", "read_from_replicas"} <= client_option_names()


def test_the_benchmarks_named_are_the_runnable_ones(capsys: pytest.CaptureFixture[str]) -> None:
    names = benchmark_names(ROOT / "benchmarks")
    assert {"session", "tool", "llm"} <= set(names)
    assert not {"harness", "peers", "__init__"} & set(names)
    for wrong in ("harness", "peers", "__init__", "nosuch"):
        assert main(["bench", wrong]) == 2
        assert f"no benchmark {wrong!r}; the benchmarks are: " + ", ".join(names) in capsys.readouterr().err
    assert main(["bench"]) == 2  # argparse said "required: name, args" (args is not)
    assert "name a benchmark; the benchmarks are: " + ", ".join(names) in capsys.readouterr().err


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_refuses_a_port_that_is_not_one(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", port])
    assert stopped.value.code == 2
    assert "is not a port number" in capsys.readouterr().err


def test_serve_refuses_a_data_dir_with_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("fastapi")
    assert main(["serve", "--url", "valkey://127.0.0.1:1", "--data-dir", "/tmp/nowhere"]) == 2
    assert "--data-dir is for the bundled server" in capsys.readouterr().err


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    shown = capsys.readouterr().out
    assert "(default: 8787)" in shown and "(default: 127.0.0.1)" in shown
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--url" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("module", "extra", "dependency"),
    [
        ("agentcache.providers.openai", "openai", "openai"),
        ("agentcache.providers.anthropic", "anthropic", "anthropic"),
        ("agentcache.observers.prometheus", "prometheus", "prometheus_client"),
        ("agentcache.observers.opentelemetry", "opentelemetry", "opentelemetry"),
        ("agentcache.integrations.langgraph", "langgraph", "langgraph"),
        ("agentcache.integrations.langgraph_store", "langgraph", "langgraph"),
        ("agentcache.integrations.langchain", "langchain", "langchain_core"),
        ("agentcache.integrations.adk", "adk", "google"),
        ("agentcache.integrations.openai_agents", "openai-agents", "agents"),
        ("agentcache.integrations.pydantic_ai", "pydantic-ai", "pydantic_ai"),
        ("agentcache.integrations.llama_index", "llama-index", "llama_index"),
        ("agentcache.integrations.strands", "strands", "strands"),
        ("agentcache.http", "http", "fastapi"),
    ],
)
def test_a_module_without_its_extra_names_the_extra(
    module: str, extra: str, dependency: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from agentcache.errors import MissingExtraError

    for name in list(sys.modules):  # as if the dependency were not installed, and the module never imported
        if name in (dependency, module) or name.startswith((dependency + ".", module + ".")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, dependency, None)  # None in sys.modules: import raises ModuleNotFoundError
    with pytest.raises(
        MissingExtraError, match=rf'needs the {extra} extra .*pip install "valkey-agentcache\[{extra}\]"'
    ):
        __import__(module)
    with pytest.raises(ModuleNotFoundError):  # still what code that catches the old error expects
        __import__(module)


def test_the_command_starts_without_loading_the_tiers() -> None:
    """``import agentcache`` (what the ``agentcache`` command does first, before it can answer
    Ctrl-C quietly) loads no tier; every public name still resolves, to the object in its home."""
    import subprocess
    import sys

    probe = "import sys, agentcache.cli; print(sorted(m for m in sys.modules if m.startswith('agentcache.')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "agentcache.tiers" not in loaded and "agentcache.facade" not in loaded, loaded

    import importlib

    import agentcache

    homes = agentcache.homes()
    assert set(homes) | {"__version__"} == set(agentcache.__all__)
    for name, home in homes.items():
        assert getattr(agentcache, name) is getattr(importlib.import_module(home), name)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        agentcache.nonsense  # noqa: B018


def test_ctrl_c_while_the_command_loads_is_a_quiet_130() -> None:
    """The entry point's handler is in place before the CLI's modules load: an interrupt during
    that import (made to happen there, deterministically) prints one line and exits 130. Before,
    the console script imported the CLI first and a Ctrl-C in those ~40 ms printed a traceback."""
    import subprocess
    import sys
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"agentcache": "agentcache.entry:main"}
    probe = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'argparse':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "from agentcache.entry import main\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (130, "interrupted\n", "")
    python_m = subprocess.run([sys.executable, "-m", "agentcache", "--version"], capture_output=True, text=True)
    assert python_m.returncode == 0 and python_m.stdout.startswith("agentcache ")


def test_the_license_is_in_the_metadata_every_pip_shows() -> None:
    """``pip show`` of the pip a fresh virtualenv has here (23.2) prints the ``License`` field only:
    an SPDX ``license = "MIT"`` writes ``License-Expression`` alone, which it shows as empty."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}  # hatchling writes it as `License: MIT`
    assert "License :: OSI Approved :: MIT License" in project["classifiers"]
    assert project["license-files"] == ["LICENSE"] and "MIT License" in (ROOT / "LICENSE").read_text()


def test_a_command_that_fails_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """demo and mcp printed a traceback for a bad URL or setting; rekey failed on its state file
    only after a first step had re-encrypted values, and took --count 0 until the first step."""
    assert main(["demo", "--url", "notaurl"]) == 2
    assert capsys.readouterr().err.startswith("agentcache demo: url must start with one of valkey://")
    assert main(["mcp", "--thread", "t", "--url", "notaurl"]) == 2
    assert capsys.readouterr().err.startswith("agentcache mcp: url must start with one of valkey://")
    monkeypatch.setenv("AGENTCACHE_MAXMEMORY", "bad")
    assert main(["demo"]) == 2
    assert "agentcache demo: AGENTCACHE_MAXMEMORY must be" in capsys.readouterr().err
    monkeypatch.setenv("AGENTCACHE_ENCRYPTION_KEYS", "k:" + "A" * 43 + "=")
    state = tmp_path / "missing" / "rekey.cursor"
    assert main(["rekey", "--url", "valkey://127.0.0.1:1", "--state", str(state)]) == 2
    assert "cannot write the state file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["rekey", "--url", "valkey://127.0.0.1:1", "--count", "0"])
    assert stopped.value.code == 2 and "argument --count:" in capsys.readouterr().err
    assert main(["rekey", "--url", "valkey://127.0.0.1:1", "--cursor", "garbage"]) == 2
    said = capsys.readouterr().err
    assert "cursor must be what a previous step gave" in said and "resume with" not in said
