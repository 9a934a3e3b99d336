import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py: before torch loads OpenMP
import pytest  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the flat top-level modules
# One intra-op thread: on a small shared machine, OpenMP threads that spin-wait for a busy core
# make small models 10-50x slower; one thread is also what the paper's latency is measured on.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def stand_in_table(tmp_path_factory):
    """A latency table for every layer of the space at 32 px with made-up times (0.1 ms each): what
    a search needs to run without timing on this CPU. Real tables come from latency_table.py
    --build-table."""
    import latency_table
    import models
    from mnas import SearchSpace

    space = SearchSpace()
    entries = models.space_entries([space.block_options(i) for i in range(len(space.skeleton))], 32)
    path = tmp_path_factory.mktemp("table") / "stand-in-table.json"
    latency_table.LatencyTable("cpu", 1, 32, reference_ms=20.0, layers={k: 0.1 for k in entries},
                               fit=[1.0, 0.0]).save(path)
    return path


@pytest.fixture(scope="session")
def once(request, tmp_path_factory) -> Callable[[str, Callable[[Path], None]], Path]:
    """once(name, make): the directory `name`, filled by make(directory) once per test run however
    many workers ask (pytest-xdist's recipe for a session fixture: the workers of a run share their
    base temporary directory's parent; the first to take the lock makes it, the others wait and read
    it). A make that fails leaves no `done` mark: the next worker tries again, and fails with its
    own message. What make writes must not point into one worker's own directories."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker (not a pytest run it started)
        root = root.parent

    def make_once(name: str, make: Callable[[Path], None]) -> Path:
        path, done = root / name, root / f"{name}.done"
        with FileLock(root / f"{name}.lock"):
            if not done.exists():
                shutil.rmtree(path, ignore_errors=True)
                path.mkdir()
                make(path)
                done.touch()
        return path
    return make_once
