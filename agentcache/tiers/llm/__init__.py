"""The LLM tier: model responses cached by their canonical request, computed once when many ask."""
