"""The HTTP API (the ``http`` extra): ``create_app(cache)`` and ``agentcache serve``."""

from agentcache.http.app import create_app

__all__ = ["create_app"]
