"""What the tests of the benchmark scripts share: benchmarks/ on the path (each script imports as
its name: `import timing`), records with provenance, and a committed tree."""

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import records  # noqa: E402


def with_provenance(record: dict, date: str = "2026-11-29 01:00:00 UTC") -> dict:
    return {**record, "command": "python benchmarks/x.py", "commit": "abcdef0123", "date": date,
            "machine": "test cpu",
            "wall_seconds": 60.0}


@pytest.fixture(autouse=True)
def committed_tree(monkeypatch):
    """The tests run as from a committed tree, whatever state the working tree is in: a dirty one
    would add its warning line (records.origin) to the stderr of every benchmark they start.
    Imported by a test module, it applies to all of its tests."""
    monkeypatch.setattr(records, "git_commit", lambda: "0123456789abcdef0123456789abcdef01234567")
