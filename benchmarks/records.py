"""Benchmark results as data: `benchmarks/results/<name>.json`, each record with its provenance.

A long benchmark appends one record per finished unit of work (a trained network, a scored
setting), so a run that is stopped loses at most the unit in flight, and can resume by skipping
what the file already holds. The file is one JSON object, {"records": [...]}, rewritten whole
and atomically under a lock, so two benchmark processes may append to the same file. Below, the
pieces every generated table shows of its records (the provenance line, a mean and its range).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def git_commit(root: Path = Path(__file__).resolve().parent.parent) -> str:
    """The commit the code ran at, with "+dirty" when the working tree had changes to tracked files
    other than what the runs themselves write: the records under benchmarks/results/ and the figures
    under docs/ (platforms.py --plot, searches.py --plot)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results", ":(exclude)docs/*.png"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
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
    """Where a record came from: the command and commit (`origin`), the date, the machine (in the
    words a latency table records) and the wall time."""
    import torch

    import latency  # the repository root's: benchmarks/ has no module of that name

    gpu = f", {torch.cuda.get_device_name()}" if device == "cuda" else ""
    return {**origin, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": latency.machine() + gpu,
            "wall_seconds": round(time.time() - started, 1)}


def load(path: str | Path) -> list[dict]:
    """The records of a results file ([] when it does not exist yet)."""
    path = Path(path)
    return json.loads(path.read_text())["records"] if path.exists() else []


def is_dirty(record: dict) -> bool:
    """Whether a record ran from uncommitted code ("+dirty"): the code that wrote it is not in
    the history, so no claim rests on it, and a benchmark resuming does not count it as done (run
    again from a commit, it is replaced)."""
    return str(record.get("commit", "")).endswith("+dirty")


def finished(path: str | Path) -> list[dict]:
    """The records a resuming benchmark skips: those from committed code."""
    return [r for r in load(path) if not is_dirty(r)]


def standing(rs: list[dict], key) -> list[dict]:
    """The records a table shows: a +dirty record is dropped once a record from committed code
    holds its unit (the same `key(record)`), its re-run; until then it stays, marked as +dirty."""
    rerun = {key(r) for r in rs if not is_dirty(r)}
    return [r for r in rs if not (is_dirty(r) and key(r) in rerun)]


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


# ----------------------------------------------------------------------------- on the pages


def provenance_line(rs: list[dict], one_run: bool = False) -> str:
    """One line under a table: the commands, the dates, the machines and the total wall time (of
    each record, or with `one_run` of the run that wrote them all)."""
    commands = sorted({r["command"] for r in rs})
    dates = sorted(r["date"][:10] for r in rs)
    machines = sorted({r["machine"] for r in rs})
    hours = (max if one_run else sum)(r["wall_seconds"] for r in rs) / 3600
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    commits = ", ".join(sorted({short_commit(r["commit"]) for r in rs}))
    return (f"\n*{len(rs)} {'record' if len(rs) == 1 else 'records'}, {hours:.1f} h of wall time, "
            f"{span}, {'; '.join(machines)}; commit {commits}; "
            + "; ".join(f"`{c}`" for c in commands) + "*\n")


def short_commit(commit: str) -> str:
    """A record's commit as a short hash, keeping the mark of a dirty tree: "1810816+dirty"."""
    dirty = "+dirty" if commit.endswith("+dirty") else ""
    return commit.removesuffix("+dirty")[:7] + dirty


def mean_range(values: list[float], fmt: str = ".4f") -> str:
    """"mean (min-max)" over seeds, or the one value."""
    if len(values) == 1:
        return format(values[0], fmt)
    return (
        f"{format(statistics.fmean(values), fmt)}"
        f" ({format(min(values), fmt)}-{format(max(values), fmt)})"
    )


def setting(run: str) -> str:
    """A search run's setting: its name without "-seedN" ("multi-cell-seed1" -> "multi-cell")."""
    return re.sub(r"-seed\d+$", "", run)


def group(rs: list[dict], key) -> dict[str, list[dict]]:
    """Records grouped by `key(record)`, in the order each group first appears."""
    groups: dict[str, list[dict]] = {}
    for r in rs:
        groups.setdefault(key(r), []).append(r)
    return groups
