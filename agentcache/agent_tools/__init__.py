"""Tools for agents: ``session_data`` (a model's key-value notes in its thread's session state)."""

from agentcache.agent_tools.session_data import SessionDataTool, session_data

__all__ = ["SessionDataTool", "session_data"]
