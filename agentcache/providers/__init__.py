"""Model SDK wrappers: the OpenAI and Anthropic clients (and OpenAI-compatible endpoints) with the
LLM tier in front, each behind its extra."""
