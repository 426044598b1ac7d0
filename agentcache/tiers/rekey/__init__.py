"""Re-encryption in place (``agentcache rekey``): every sealed value under the cache's current key."""
