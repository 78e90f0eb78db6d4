"""House habits the linters cannot see everywhere: no blanket `# noqa` and no blanket `# type: ignore` in any
Python file of the repository (generated stubs and scripts included), so every suppression names the rule it
silences. ruff's PGH003/PGH004 check the same in the files ruff lints; this covers the rest and runs without ruff.
"""
from __future__ import annotations

import io
import os
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {"build", "model_store", "logs", "node_modules", "__pycache__"}  # and hidden ones (.venv, .git, .run)

# a noqa comment names its rules after a colon (ruff/flake8 codes: letters then digits)
NOQA = re.compile(r"#\s*noqa\b(?!\s*:\s*[A-Z]+[0-9]+)", re.IGNORECASE)
# a mypy ignore names its error codes in brackets
TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore\b(?!\[[a-z0-9-]+(?:,\s*[a-z0-9-]+)*\])")


def python_files() -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        files += [Path(folder, name) for name in names if name.endswith((".py", ".pyi"))]
    return sorted(files)


def blanket_suppressions(source: str) -> list[tuple[int, str]]:
    """(line, comment) of every comment with a `# noqa` or `# type: ignore` that names no rule."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and (NOQA.search(token.string) or TYPE_IGNORE.search(token.string)):
            found.append((token.start[0], token.string))
    return found


@pytest.mark.parametrize(("comment", "blanket"), [
    ("# noqa", True), ("# NOQA", True), ("# noqa - reason", True), ("# noqa:", True),
    ("# noqa: E402 - after the sys.path set-up", False), ("# noqa:E501", False), ("# noqa: F401, F811", False),
    ("# type: ignore", True), ("# type: ignore  # reason", True), ("# type:ignore", True),
    ("# type: ignore[arg-type]  # reason", False), ("# type: ignore[union-attr, arg-type]", False),
    ("# an ordinary comment", False),
])
def test_the_check_tells_blanket_from_named_suppressions(comment, blanket):
    assert bool(blanket_suppressions(f"x = 1  {comment}\n")) == blanket


def test_strings_that_mention_noqa_are_not_comments():
    assert blanket_suppressions('text = "# noqa"\n') == []


def test_no_blanket_noqa_or_type_ignore_in_the_repository():
    files = python_files()
    assert len(files) > 100  # the walk found the repository's Python
    offenders = [f"{path.relative_to(ROOT)}:{line}: {comment}"
                 for path in files for line, comment in blanket_suppressions(path.read_text(encoding="utf-8"))]
    assert not offenders, "name the rule (e.g. `# noqa: E402 - why`, `# type: ignore[arg-type]  # why`):\n" + \
        "\n".join(offenders)
