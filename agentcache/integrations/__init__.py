"""Adapters for the SDKs and frameworks agents are built with; each behind its own extra.

Nothing here is imported by ``import agentcache``: import the module you need, for example
``from agentcache.integrations.openai import cached_openai``.
"""
