"""The architecture of docs/architecture.md, checked: layers as folders, imports only downwards and
in no circle, Lua only in .lua files (shipped in the wheel), every key built in encoding/keys.py, and
a CLI that runs only this checkout's benchmarks."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "agentcache"


def test_the_wheel_ships_the_lua_scripts(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".lua")}
    assert shipped == {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.lua")}


def test_the_cli_runs_only_this_checkouts_benchmarks(tmp_path: Path) -> None:
    impostor = tmp_path / "benchmarks"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("")
    (impostor / "session.py").write_text("print('IMPOSTOR')\ndef main(args):\n    return 0\n")
    done = subprocess.run(
        [sys.executable, "-m", "agentcache.cli", "bench", "session", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the impostor is first on sys.path
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    assert "IMPOSTOR" not in done.stdout
    assert done.returncode == 0 and "usage: python -m benchmarks.session" in done.stdout, done.stderr
