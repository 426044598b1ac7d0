"""The session tier: thread-scoped fields, each its own key with its own sliding TTL, and user parts."""
