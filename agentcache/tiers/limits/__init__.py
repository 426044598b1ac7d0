"""Rate limits and quotas shared by every worker (``cache.limits``), in one script."""
