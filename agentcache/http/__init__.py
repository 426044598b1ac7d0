"""The HTTP API (the ``http`` extra): ``create_app(cache)`` and ``agentcache serve``."""

from agentcache.errors import missing_extra

try:
    import fastapi  # noqa: F401 - checked here once, for every module of the package
    import uvicorn  # noqa: F401
except ImportError as missing:
    raise missing_extra(__name__, "http", missing) from missing

from agentcache.http.app import create_app

__all__ = ["create_app"]
