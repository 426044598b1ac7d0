"""Distri's own JS client, ``DistriClient`` of ``@distri/core``, run by node against the HTTP API.

``@distri/core`` is not published on the npm registry, so this test builds the client from a checkout
of its source (distrihub/distrijs): set ``AGENTCACHE_DISTRIJS_SRC`` to its ``packages/core/src``. It
installs the client's one dependency (``@a2a-js/sdk``) and esbuild with npm into
``~/.cache/agentcache-tests/distrijs``, bundles ``distri-client.ts``, and runs seed 000's example
calls with the real client. Skipped, with the reason, without node and npm, the source, or the
registry. ``tests/integration/test_http_distri.py`` sends the same requests without node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from tests.integration.test_http import USER, Running

CACHE = Path.home() / ".cache" / "agentcache-tests" / "distrijs"
PACKAGES = ["@a2a-js/sdk@0.3.14", "esbuild@0.28.2"]

SCRIPT = r"""
import { DistriClient } from './distri-client.mjs';
const [base, key, bearer] = process.argv.slice(2);
const client = bearer === '1'
  ? new DistriClient({ baseUrl: base, accessToken: key, retryAttempts: 0 })
  : new DistriClient({ baseUrl: base, headers: { 'x-api-key': key }, retryAttempts: 0 });
const out = {};
const thread = 'thread-123 ' + Date.now();
const png = Buffer.from('\x89PNG\r\n\x1a\n' + 'pixels'.repeat(400)).toString('base64');
const image = { part_type: 'image', data: { type: 'bytes', mime_type: 'image/png', bytes: png, name: 's.png' } };
await client.setSessionValue(thread, 'user_preference', { theme: 'dark', language: 'en' });
out.get = await client.getSessionValue(thread, 'user_preference');
const expiry = new Date(); expiry.setHours(expiry.getHours() + 24);
await client.setSessionValue(thread, 'temporary_data', { data: 'value' }, expiry.toISOString());
await client.setSessionValue(thread, 'soon', 1, new Date(Date.now() + 300));
await client.setSessionValue(thread, '__user_part_note', { part_type: 'text', data: 'clicked submit' });
await client.setSessionValue(thread, '__user_part_shot', image);
out.part = JSON.stringify(await client.getSessionValue(thread, '__user_part_shot')) === JSON.stringify(image);
out.keys = Object.keys(await client.getSessionValues(thread)).sort();
await new Promise((resolve) => setTimeout(resolve, 600));
out.expired = await client.getSessionValue(thread, 'soon');
await client.deleteSessionValue(thread, 'user_preference');
out.deleted = await client.getSessionValue(thread, 'user_preference');
await client.clearSession(thread);
out.cleared = await client.getSessionValues(thread);
console.log(JSON.stringify(out));
"""


def built_client() -> Path:
    """The bundled client (built once into the cache directory), or a skip saying what is missing."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed to run Distri's JS client")
    source = Path(os.environ.get("AGENTCACHE_DISTRIJS_SRC", ""))
    if not (source / "distri-client.ts").is_file():
        pytest.skip(
            "@distri/core is not on the npm registry: set AGENTCACHE_DISTRIJS_SRC to distrijs's packages/core/src"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    esbuild = CACHE / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        installed = subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *PACKAGES],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            pytest.skip(f"npm could not install {PACKAGES}: {installed.stderr[-300:]}")
    bundle = CACHE / "distri-client.mjs"
    subprocess.run(
        [esbuild, source / "distri-client.ts", "--bundle", "--platform=node", "--format=esm", f"--outfile={bundle}"],
        check=True,
        cwd=CACHE,
        timeout=120,
    )
    (CACHE / "run.mjs").write_text(SCRIPT)
    return CACHE / "run.mjs"


@pytest.mark.parametrize("bearer", ["0", "1"], ids=["x-api-key", "accessToken"])
def test_distris_js_client_runs_seed_000s_example_unchanged(server_urls: Any, bearer: str) -> None:
    script = built_client()
    running = Running(server_urls("cluster"), user_keys=[USER])
    try:
        done = subprocess.run(
            ["node", str(script), running.base + "/api/v1", USER, bearer],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=CACHE,
        )
    finally:
        running.stop()
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {
        "get": {"theme": "dark", "language": "en"},
        "part": True,
        "keys": ["__user_part_note", "__user_part_shot", "soon", "temporary_data", "user_preference"],
        "expired": None,
        "deleted": None,
        "cleared": {},
    }
