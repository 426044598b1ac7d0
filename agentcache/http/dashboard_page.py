"""The dashboard page: one HTML document with its own style and script inline (no build step, nothing
fetched from elsewhere), charts drawn as SVG by the few functions in its script.

The sources are package files in ``dashboard_assets/`` (``dashboard.html``, ``.css``, ``.js``), put
together once here. The page holds no data. It asks for the admin key (kept in the tab's session
storage), polls ``/dashboard/data`` every two seconds, keeps the history it was sent (an hour; after
the first poll only entries it has not seen are fetched) and draws: the cache over time (hit rate per
tier, operations per second, p50/p99 latency per operation, cost saved, near-cache hits), Valkey per
primary, the sessions (counts, expiry timeline, a list, one thread's fields and one conversation's
messages, their time left counting down) and the tools and models by cost saved. Text goes in with
``textContent`` only and images only as ``data:`` URLs; the Content-Security-Policy
(``http/guard.py``) allows this page's own inline script and style by hash and nothing else, so
there are no inline event handlers and no ``style`` attributes.
"""

from __future__ import annotations

from importlib.resources import files


def _asset(name: str) -> str:
    return files(__package__).joinpath("dashboard_assets").joinpath(name).read_text(encoding="utf-8")


PAGE = (
    _asset("dashboard.html")
    .replace("/* dashboard.css */\n", _asset("dashboard.css"))
    .replace("/* dashboard.js */\n", _asset("dashboard.js"))
)
"""The whole page, as served at ``/dashboard``."""
