"""The messages, parts and provider formats every tier shares: models with no I/O, below the tiers."""
