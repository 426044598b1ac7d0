"""The core: the operation protocol (commands), the sync and async executors that drive it, the
binding of operations to facades, and what agentcache knows about clients."""
