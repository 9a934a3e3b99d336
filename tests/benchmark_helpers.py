"""What the tests of the benchmark scripts share: benchmarks/ on the path, a loader for the scripts
whose names clash with top-level modules, records with provenance, and a committed tree."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import records  # noqa: E402


def benchmark_module(name: str):
    """benchmarks/<name>.py loaded under another name: controller.py and latency.py share their
    names with the top-level modules, which `import` would find first."""
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_provenance(record: dict, date: str = "2026-11-29 01:00:00 UTC") -> dict:
    return {**record, "command": "python benchmarks/x.py", "commit": "abcdef0123", "date": date, "machine": "test cpu",
            "wall_seconds": 60.0}


@pytest.fixture(autouse=True)
def committed_tree(monkeypatch):
    """The tests run as from a committed tree, whatever state the working tree is in: a dirty one
    would add its warning line (records.origin) to the stderr of every benchmark they start.
    Imported by a test module, it applies to all of its tests."""
    monkeypatch.setattr(records, "git_commit", lambda: "0123456789abcdef0123456789abcdef01234567")
