"""The semantic tier: a prompt that means the same as one already answered gets the stored answer.

Entries live per scope (model, the request's other parameters, the caller's own scope), indexed by
random-hyperplane LSH bands in the scope's own slot and verified by exact cosine inside the lookup
script (``index.py``, ``lookup.lua``): plain Valkey, no search module, one round trip per lookup.
"""
