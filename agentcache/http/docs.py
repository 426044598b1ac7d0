"""The API's documents, off unless asked for (``create_app(docs=True)``, ``agentcache serve --docs``).

- ``/openapi.json``: the OpenAPI document, behind the admin key (when keys are configured).
- ``/docs``: Swagger UI from local assets only (the ``swagger-ui`` files that the ``fastapi-offline``
  package ships, served under ``/docs/``; no CDN), with a Content-Security-Policy that allows only
  those files and the page's own inline script and style. The page holds no data: it asks for the
  admin key, fetches the document with it and sends it with every request tried from the page. If
  the assets are not installed, ``/docs`` is not served and ``/openapi.json`` still is.

ReDoc is not offered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from agentcache.http.guard import inline_hashes

log = logging.getLogger("agentcache.http")

ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>agentcache API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<style>
body { margin: 0; font-family: sans-serif; }
#auth { padding: 12px 20px; border-bottom: 1px solid #ddd; }
#problem { padding: 12px 20px; color: #a00; }
</style>
</head>
<body>
<form id="auth">
<label>Admin key <input id="key" type="password" autocomplete="off"></label> <button>Load</button>
</form>
<div id="problem"></div>
<div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
const keyInput = document.getElementById("key");
keyInput.value = sessionStorage.getItem("agentcache-key") || "";
function authorized(headers) {
  if (keyInput.value) headers["Authorization"] = "Bearer " + keyInput.value;
  return headers;
}
async function load(event) {
  if (event) event.preventDefault();
  sessionStorage.setItem("agentcache-key", keyInput.value);
  const problem = document.getElementById("problem");
  problem.textContent = "";
  const answer = await fetch("/openapi.json", {headers: authorized({})});
  if (!answer.ok) {
    problem.textContent = "The document needs the admin key (the server answered " + answer.status + ").";
    return;
  }
  SwaggerUIBundle({
    spec: await answer.json(),
    dom_id: "#ui",
    requestInterceptor: (request) => { authorized(request.headers); return request; },
  });
}
document.getElementById("auth").addEventListener("submit", load);
load();
</script>
</body>
</html>
"""


def policy(page: str) -> str:
    """The Content-Security-Policy of the docs page: its assets and its own inline script and style."""
    return (
        f"default-src 'none'; script-src 'self' {inline_hashes(page, 'script')}; "
        f"style-src 'self' {inline_hashes(page, 'style')}; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def assets() -> Path | None:
    """The folder holding Swagger UI's files (the fastapi-offline package's), None if not installed."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def install(app: FastAPI, admin: Any) -> None:
    """``/openapi.json`` behind ``admin`` (a dependency), and ``/docs`` if Swagger UI's assets are installed."""

    @app.get("/openapi.json", dependencies=[admin], include_in_schema=False)
    async def document() -> JSONResponse:
        return JSONResponse(app.openapi())

    folder = assets()
    if folder is None:
        log.warning("/docs is off: Swagger UI's files are not installed (pip install fastapi-offline)")
        return
    headers = {"Content-Security-Policy": policy(PAGE), "Cache-Control": "no-store"}

    @app.get("/docs", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers=headers)  # holds no data; the document needs the admin key

    for name, media_type in ASSETS.items():

        def served(path: Path = folder / name, media_type: str = media_type) -> Any:
            async def asset() -> FileResponse:
                return FileResponse(path, media_type=media_type)

            return asset

        app.get(f"/docs/{name}", include_in_schema=False)(served())
