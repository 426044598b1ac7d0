"""The dashboard page is whole and needs nothing but its own script and style (parsed here; the
browser run on a real workload: tests/integration/test_dashboard.py)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi")


from agentcache.http.dashboard_page import PAGE
from agentcache.http.guard import content_security_policy


def test_the_page_is_whole_and_needs_nothing_but_its_own_script_and_style() -> None:
    """What the Content-Security-Policy allows is all the page uses: one inline script and one
    inline style (allowed by hash), no inline event handler or style attribute, nothing from elsewhere."""
    assert PAGE.count("<script>") == 1 and PAGE.count("<style>") == 1
    assert "/* dashboard." not in PAGE  # the sources were put in
    assert re.search(r"<[^>]*\son[a-z]+=", PAGE) is None and re.search(r"<[^>]*\sstyle=", PAGE) is None
    assert re.search(r"(src|href)=[\"']?(https?:)?//", PAGE) is None and "import(" not in PAGE
    policy = content_security_policy(PAGE)
    assert "'unsafe-inline'" not in policy and "img-src 'self' data:" in policy and "connect-src 'self'" in policy
