"""Running a search's children reliably: the machinery beside the loop of Fig. 1, not inside it.

The paper's search (Sec. 4.2) trains ~8K children on many machines; ours trains a few hundred on a
laptop's cores or a Dask cluster, over sessions that get stopped. `mnas.search` states the loop;
this module keeps it running:

    InlineExecutor  a concurrent.futures.Executor that runs each job at once, in this process:
                    the serial search takes the same code path as process pools and Dask.
    ChildRunner     trains children on any Executor, a bounded number in flight, and retries a
                    child whose worker process died (a broken pool fails every job in flight).
    save_atomic     torch.save that never leaves half a file behind (checkpoints, controller.pt).

Copied alone it needs torch (for save_atomic) and the standard library.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from pathlib import Path

import torch


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash leaves the old file or the new one."""
    tmp = Path(path).with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class InlineExecutor(Executor):
    """A concurrent.futures.Executor that runs each job at once in the calling process: the serial
    case of the search, on the same code path as process pools and Dask."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as e:
            future.set_exception(e)
        return future


class WorkerDied(RuntimeError):
    """The process training a child died twice (killed, out of memory...), not the child's own
    error."""


class ChildRunner:
    """Trains children on a concurrent.futures.Executor, at most `max_in_flight` at a time, and
    retries a child whose worker process died.

    A local process pool breaks as a whole when one worker dies, failing every job in flight, so
    it is replaced and the blame is unknown: those children are retried one at a time. A child
    whose worker dies while it runs alone (or that Dask reports as KilledWorker) is retried once
    more, then fails with WorkerDied."""

    def __init__(self, make_executor: Callable[[], Executor], max_in_flight: int = 1):
        self.make_executor, self.max_in_flight = make_executor, max_in_flight
        self.executor = make_executor()
        self.running: dict[Future, tuple[int, object, float]] = {}

    def run(self, evaluate: Callable,
            jobs: list[tuple[int, object]]) -> Iterator[tuple[int, object, Future, float]]:
        """Yield (step, arch, future, seconds) as each job finishes, in completion order."""
        queue, running, suspects, deaths = list(jobs), self.running, set(), {}
        while queue or running:
            limit = 1 if suspects else self.max_in_flight
            while queue and len(running) < limit:
                step, arch = queue.pop(0)
                running[self.executor.submit(evaluate, arch)] = (step, arch, time.time())
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            alone = len(running) == 1
            if any(isinstance(f.exception(), BrokenExecutor) for f in finished):
                finished = wait(running).done  # every job in a broken pool fails
                self.executor.shutdown(wait=False)
                self.executor = self.make_executor()
            for future in finished:
                step, arch, started = running.pop(future)
                error = future.exception()
                if isinstance(error, BrokenExecutor) or type(error).__name__ == "KilledWorker":
                    if alone or not isinstance(error, BrokenExecutor):
                        deaths[step] = deaths.get(step, 0) + 1
                    if deaths.get(step, 0) < 2:
                        suspects.add(step)
                        queue.insert(0, (step, arch))  # retried next, alone
                        continue
                    future = Future()
                    future.set_exception(WorkerDied(f"worker died twice ({type(error).__name__})"))
                suspects.discard(step)
                yield step, arch, future, time.time() - started

    def shutdown(self) -> None:
        for future in self.running:  # on Ctrl-C or an error: drop the children in flight
            future.cancel()
        self.executor.shutdown(wait=False)
