"""Children evaluated in parallel (local processes, a real Dask cluster) and crash safety of the
search.

The search loop only needs a concurrent.futures.Executor: the same code path serves the serial
case, a local process pool and Dask. The stand-in evaluators below are picklable module-level
functions, so worker processes can run them; they are cheap, so the tests stay fast."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import pytest

import controller
import mnas
import models
import runner

ROOT = Path(__file__).resolve().parent.parent
SPACE = mnas.SearchSpace()


def evaluate(arch, pause=0.0):
    time.sleep(pause)
    return {"accuracy": sum(b.out for b in arch.blocks) / 1000, "params": 1, "macs": 1,
            "pid": os.getpid()}


def dies_once(arch, marker_dir):
    """Kills its own worker process the first time it sees an architecture, succeeds the second
    time."""
    marker = (
        Path(marker_dir) / hashlib.sha1(json.dumps(models.arch_to_dict(arch)).encode()).hexdigest()
    )
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return evaluate(arch)


def always_dies(arch):
    os.kill(os.getpid(), signal.SIGKILL)


def latency(arch):
    return 10.0 + sum(b.repeats for b in arch.blocks)


def search(run_dir, evaluate_fn, make_executor, samples=6, batch=3, max_in_flight=2):
    ctrl = controller.make_learning_rule("reinforce", SPACE.decisions, seed=0)
    return mnas.search(SPACE, ctrl, evaluate_fn, mnas.LatencyTarget(latency, 20.0), mnas.SOFT,
                       samples, batch, run_dir,
                       make_executor, max_in_flight)


def local_pool(n=2):
    return partial(ProcessPoolExecutor, n, mp_context=get_context("spawn"))


def steps(run_dir):
    return [
        json.loads(line)["step"]
        for line in (Path(run_dir) / "search.jsonl").read_text().splitlines()
    ]


def test_local_worker_processes_match_the_serial_search(tmp_path):
    parallel = search(tmp_path / "pool", evaluate, local_pool())
    serial = search(tmp_path / "serial", evaluate, runner.InlineExecutor)
    assert sorted(c.step for c in parallel) == list(range(6))
    by_step = {c.step: c for c in parallel}
    assert [(by_step[c.step].tokens,
             by_step[c.step].reward) for c in serial] == [(c.tokens, c.reward) for c in serial]


def test_a_dead_worker_is_retried_once_then_the_child_fails(tmp_path):
    children = search(tmp_path / "once", partial(dies_once, marker_dir=tmp_path), local_pool(),
                      samples=2, batch=2)
    assert [c.status for c in children] == ["ok", "ok"]
    children = search(tmp_path / "always", always_dies, local_pool(1), samples=1, batch=1,
                      max_in_flight=1)
    assert [c.status for c in children] == ["failed: WorkerDied: worker died twice "
                                            "(BrokenProcessPool)"]


def test_search_on_a_real_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            children = search(tmp_path, partial(evaluate, pause=0.2), client.get_executor,
                              samples=6)
            assert sorted(c.step for c in children) == list(range(6))
            assert all(c.status == "ok" for c in children)


DRIVER = """
import sys, time
sys.path.insert(0, {root!r})
import controller, mnas
space = mnas.SearchSpace()
def evaluate(arch):
    time.sleep(0.05)
    return {{"accuracy": sum(b.out for b in arch.blocks) / 1000, "params": 1, "macs": 1}}
ctrl = controller.make_learning_rule("ppo", space.decisions, seed=0)
platform = mnas.LatencyTarget(lambda a: 10.0 + a.blocks[0].repeats, 20.0)
mnas.search(space, ctrl, evaluate, platform, mnas.SOFT, samples={samples}, batch=4,
            run_dir={run_dir!r})
"""


def start_driver(run_dir, samples):
    code = DRIVER.format(root=str(ROOT), samples=samples, run_dir=str(run_dir))
    return subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)


def wait_for_lines(run_dir, n, timeout=60):
    log, deadline = Path(run_dir) / "search.jsonl", time.time() + timeout
    while time.time() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= n:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{log} did not reach {n} lines")


def test_driver_killed_with_sigkill_then_resumed_loses_and_duplicates_nothing(tmp_path):
    samples = 9
    # Kill at different phases: right after a line, mid-training, and around a batch's update.
    for lines, extra in ((2, 0.0), (5, 0.1)):
        proc = start_driver(tmp_path / "killed", samples)
        wait_for_lines(tmp_path / "killed", lines)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = start_driver(tmp_path / "killed", samples)
    reference = start_driver(tmp_path / "clean", samples)  # an uninterrupted search, run alongside
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert steps(tmp_path / "killed") == list(range(samples))  # nothing lost, nothing twice
    assert reference.wait(timeout=120) == 0
    strip = lambda path: [
        {k: v for k, v in json.loads(line).items() if k != "seconds"}  # noqa: E731
        for line in (path / "search.jsonl").read_text().splitlines()
    ]
    assert strip(tmp_path / "killed") == strip(tmp_path / "clean")  # resuming changes nothing
