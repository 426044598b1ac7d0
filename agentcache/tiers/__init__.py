"""The tiers: all the logic, as operations written once (sans I/O) for both facades."""
