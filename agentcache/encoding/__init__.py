"""Encoding: the value envelope (codec), every key and the escaping of names (keys), TTLs and
deadlines in server milliseconds (expiry)."""
