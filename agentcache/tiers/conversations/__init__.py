"""The conversation tier: message history with a lifecycle, fork and snapshots."""
