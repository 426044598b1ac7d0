"""The tool tier: tool results shared by every worker, computed once when many ask at once."""
