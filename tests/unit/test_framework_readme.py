"""The documents have one framework or observer example per tag at least (fenced ``python {langgraph}``
and so on; each runs, in a fresh interpreter on the bundled server, in
tests/integration/test_framework_readme.py), and every python block of README.md and docs/ is run by
some test (tests/documents.py says which) or says why not."""

from __future__ import annotations

from tests.documents import EXTRA_TAGS, FRAMEWORK_TAGS, KNOWN_TAGS, all_blocks, runnable

BLOCKS = [(block.tag, block.code) for block in runnable(*FRAMEWORK_TAGS, *EXTRA_TAGS)]
WHERE = [block.where for block in runnable(*FRAMEWORK_TAGS, *EXTRA_TAGS)]


def test_every_framework_has_an_example() -> None:
    tags = {name for name, _ in BLOCKS}
    assert sorted(tags & set(FRAMEWORK_TAGS)) == sorted(FRAMEWORK_TAGS), "an example per framework"


def test_every_python_block_runs_somewhere_or_says_why_not() -> None:
    blocks = all_blocks()
    assert len(blocks) > 20  # the README and docs/ were found
    unknown = [block.where for block in blocks if block.tag not in KNOWN_TAGS]
    assert unknown == [], f"python blocks with a tag no test runs (see tests/documents.py): {unknown}"
    skipped = [block for block in blocks if block.not_run is not None]
    assert len(skipped) <= 3, f"'not run' is for the rare block that cannot run: {[b.where for b in skipped]}"
