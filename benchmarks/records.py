"""Benchmark results as data: `benchmarks/results/<name>.json`, each record with its provenance.

A long benchmark appends one record per finished unit of work (a trained network, a scored
setting), so a run that is stopped loses at most the unit in flight, and can resume by skipping
what the file already holds. The file is one JSON object, {"records": [...]}, rewritten whole
and atomically under a lock, so two benchmark processes may append to the same file.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


class Parser(argparse.ArgumentParser):
    """argparse, but bad input is one line on stderr and exit status 2 (no usage dump), as everywhere here."""

    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def machine() -> str:
    """"<cpu model>, <n> cores" (and the GPU when one is used): enough to compare runs across machines."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    return f"{cpu[1].strip() if cpu else platform.machine()}, {os.cpu_count()} cores"


def git_commit(root: Path = Path(__file__).resolve().parent.parent) -> str:
    """The commit the code ran at, with "+dirty" when the working tree had changes to tracked files
    other than the records under benchmarks/results/ (data, which the runs themselves append to)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def origin(script: str, argv: list[str] | None) -> dict:
    """What produced a run, read when it starts: the command line that ran `script` with `argv`
    (default: this process's), from the repository root, and the commit of the code it loaded.
    From a tree with uncommitted changes, it says so in one line on stderr: the records will
    carry the commit marked "+dirty", and the code that wrote them is not in the history."""
    path = Path(script).resolve().relative_to(Path(__file__).resolve().parent.parent)
    commit = git_commit()
    if commit.endswith("+dirty"):
        print(f"warning: uncommitted changes; records will carry commit {commit}", file=sys.stderr)
    args = sys.argv[1:] if argv is None else argv
    return {"command": shlex.join(["python", str(path), *args]), "commit": commit}


def provenance(started: float, origin: dict, device: str = "cpu") -> dict:
    """Where a record came from: the command and commit (`origin`), the date, the machine and the wall time."""
    import torch

    gpu = f", {torch.cuda.get_device_name()}" if device == "cuda" else ""
    return {**origin, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine() + gpu,
            "wall_seconds": round(time.time() - started, 1)}


def load(path: str | Path) -> list[dict]:
    """The records of a results file ([] when it does not exist yet)."""
    path = Path(path)
    return json.loads(path.read_text())["records"] if path.exists() else []


@contextmanager
def _locked(path: Path):
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def append(path: str | Path, record: dict) -> None:
    """Add one record to a results file: read, add, write to a temporary file, rename (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        records = load(path) + [record]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"records": records}, indent=1) + "\n")
        os.replace(tmp, path)
