"""The checkpoint tier: framework checkpoints (LangGraph's) per thread, with pending writes."""
