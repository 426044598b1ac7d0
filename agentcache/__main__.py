"""``python -m agentcache``: the same as the ``agentcache`` command."""

from agentcache.entry import main

raise SystemExit(main())
