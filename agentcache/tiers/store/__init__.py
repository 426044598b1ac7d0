"""The store tier: long-term memory across threads (``cache.store``); see ``tier.py``."""
