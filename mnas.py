"""The MnasNet method: the objective (paper Sec. 3) and the factorized hierarchical search space (Sec. 4.1).

Sec. 3   `reward`: the multi-objective reward ACC(m) * [LAT(m)/T]^w of Eq. 2, with the soft and
         hard constraints of Eq. 3 as the presets SOFT and HARD.
Sec. 4.1 `SearchSpace`: seven blocks on the MobileNetV2 skeleton; the controller picks six values
         per block (ConvOp, KernelSize, SERatio, SkipOp, filters, layers), and `decode` turns the
         token sequence into a `models.Arch`.

Reference: Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from models import MOBILENETV2_BLOCKS, Arch, BlockArgs, arch_to_dict

# ----------------------------------------------------------------------------- Sec. 3: the objective


@dataclass(frozen=True)
class Constraint:
    """The exponents of Eq. 3: w = alpha if LAT <= T, else beta."""

    alpha: float
    beta: float


# Soft: a model 2x slower must be ~5% more accurate to earn the same reward: 1.05 * 2^-0.07 ~ 1.
SOFT = Constraint(alpha=-0.07, beta=-0.07)
# Hard: accuracy alone below the target, a sharp penalty above it (the ACC * T/LAT of Eq. 1's spirit).
HARD = Constraint(alpha=0.0, beta=-1.0)


def reward(acc: float, latency_ms: float, target_ms: float, alpha: float = SOFT.alpha, beta: float = SOFT.beta) -> float:
    """ACC(m) * [LAT(m) / T]^w  (Eq. 2), with w = alpha if LAT(m) <= T else beta  (Eq. 3)."""
    if latency_ms <= 0 or target_ms <= 0:
        raise ValueError(f"latency and target must be positive, got LAT={latency_ms} T={target_ms}")
    w = alpha if latency_ms <= target_ms else beta  # Eq. 3
    return acc * (latency_ms / target_ms) ** w  # Eq. 2


# ----------------------------------------------------------------------------- Sec. 4.1: the search space

CONV_OPS = (("conv", 1), ("dconv", 1), ("mbconv", 3), ("mbconv", 6))  # ConvOp as (op, expansion)
KERNELS = (3, 5)  # KernelSize
SE_RATIOS = (0.0, 0.25)  # SERatio
SKIP_OPS = ("pool", "identity", "none")  # SkipOp
FILTER_MULTS = (0.75, 1.0, 1.25)  # F_i relative to the MobileNetV2 width of the block
LAYER_DELTAS = (-1, 0, 1)  # N_i relative to the MobileNetV2 depth of the block

# One block's decisions, in the order the controller emits them.
BLOCK_CHOICES = {
    "conv_op": CONV_OPS,
    "kernel": KERNELS,
    "se_ratio": SE_RATIOS,
    "skip": SKIP_OPS,
    "filters": FILTER_MULTS,
    "layers": LAYER_DELTAS,
}


class SearchSpace:
    """The factorized hierarchical search space on the MobileNetV2 skeleton (Sec. 4.1, Fig. 4).

    Every layer of a block is the same; blocks differ. Per block: 4 ConvOps x 2 kernels x 2 SE
    ratios x 3 SkipOps x 3 filter sizes x 3 layer counts = 432 choices, so 7 blocks give
    432^7 ~ 2.8e18 architectures (a per-layer space over the same 19 layers would have 432^19).

    Tokens are one int per decision, block by block, in `decisions` order. `decode` is one-to-one
    on descriptions; a few distinct descriptions build the same network (e.g. an identity skip on
    a layer that changes channels has nothing to add to), as in the paper's own count.
    """

    def __init__(self, skeleton: list[tuple[int, int, int, int]] = MOBILENETV2_BLOCKS, stem: int = 32, head: int = 1280):
        self.skeleton = list(skeleton)  # (t, c, n, s) per block: MobileNetV2's expansion, width, depth, stride
        self.stem, self.head = stem, head
        self.decisions: list[tuple[str, int]] = [
            (f"block{i + 1}.{name}", len(choices)) for i in range(len(self.skeleton)) for name, choices in BLOCK_CHOICES.items()
        ]

    @property
    def size(self) -> int:
        """The number of distinct architectures: the product of every decision's choice count."""
        return math.prod(n for _, n in self.decisions)

    def block_filters(self, i: int) -> tuple[int, ...]:
        """The output-channel choices of block i: 0.75x, 1x, 1.25x the MobileNetV2 width, rounded."""
        return tuple(int(round(self.skeleton[i][1] * m)) for m in FILTER_MULTS)

    def block_layers(self, i: int) -> tuple[int, ...]:
        """The layer-count choices of block i: MobileNetV2's depth -1, +0, +1 (0 drops the block)."""
        return tuple(max(0, self.skeleton[i][2] + d) for d in LAYER_DELTAS)

    def block_options(self, i: int) -> list[BlockArgs]:
        """All 432 descriptions block i can take (a latency table times every layer among them)."""
        per_block = len(BLOCK_CHOICES)
        others = [0] * (len(self.decisions) - per_block)
        return [self.decode(others[:i * per_block] + list(t) + others[i * per_block:]).blocks[i]
                for t in itertools.product(*(range(len(c)) for c in BLOCK_CHOICES.values()))]

    def decode(self, tokens: list[int]) -> Arch:
        """Tokens (one per decision) -> an architecture description."""
        per_block = len(BLOCK_CHOICES)
        if len(tokens) != len(self.decisions):
            raise ValueError(f"expected {len(self.decisions)} tokens, got {len(tokens)}")
        for t, (name, n) in zip(tokens, self.decisions):
            if not 0 <= t < n:
                raise ValueError(f"token for {name} must be in [0, {n}), got {t}")
        blocks = []
        for i, (_, _, _, stride) in enumerate(self.skeleton):
            op, kernel, se, skip, filters, layers = tokens[i * per_block:(i + 1) * per_block]
            (op_name, expansion) = CONV_OPS[op]
            blocks.append(BlockArgs(op=op_name, expansion=expansion, kernel=KERNELS[kernel], stride=stride,
                                    repeats=self.block_layers(i)[layers], out=self.block_filters(i)[filters],
                                    se_ratio=SE_RATIOS[se], skip=SKIP_OPS[skip]))
        return Arch(tuple(blocks), stem=self.stem, head=self.head)

    def encode(self, arch: Arch) -> list[int]:
        """An architecture description -> tokens; ValueError naming the block and field outside the space."""
        if (arch.stem, arch.head) != (self.stem, self.head):
            raise ValueError(f"stem/head must be {self.stem}/{self.head} in this space, got {arch.stem}/{arch.head}")
        if len(arch.blocks) != len(self.skeleton):
            raise ValueError(f"this space has {len(self.skeleton)} blocks, the architecture has {len(arch.blocks)}")

        def index(i: int, field: str, value, choices) -> int:
            if value not in choices:
                raise ValueError(f"blocks[{i}]: {field} {value!r} is not in the search space (choices: {list(choices)})")
            return list(choices).index(value)

        tokens = []
        for i, b in enumerate(arch.blocks):
            if b.stride != self.skeleton[i][3]:
                raise ValueError(f"blocks[{i}]: stride {b.stride} is fixed to {self.skeleton[i][3]} by the skeleton")
            tokens += [
                index(i, "conv_op", (b.op, b.expansion), CONV_OPS),
                index(i, "kernel", b.kernel, KERNELS),
                index(i, "se_ratio", b.se_ratio, SE_RATIOS),
                index(i, "skip", b.skip, SKIP_OPS),
                index(i, "filters", b.out, self.block_filters(i)),
                index(i, "layers", b.repeats, self.block_layers(i)),
            ]
        return tokens

    def sample(self, rng: random.Random) -> list[int]:
        """Uniformly random tokens (the random-search baseline's proposal)."""
        return [rng.randrange(n) for _, n in self.decisions]


# ----------------------------------------------------------------------------- Sec. 4.2: the search


@dataclass
class Child:
    """One sampled model and what the search learned about it: a line of search.jsonl."""

    step: int  # index of the child in the search, 0-based
    tokens: list[int]
    arch: dict  # models.arch_to_dict(decode(tokens))
    accuracy: float | None = None  # ACC(m) on the held-out split after proxy training
    latency_ms: float | None = None  # LAT(m) of the deployment network on the target platform
    reward: float = 0.0  # Eq. 2; 0 for a failed child
    params: int | None = None
    macs: int | None = None
    seconds: float = 0.0  # wall time of training and evaluation
    status: str = "ok"  # "ok" or "failed: <reason>"


class SearchLog:
    """search.jsonl: one JSON line per finished child, appended and fsynced, so a crash loses at most
    the children in flight. A truncated last line (a crash mid-write) is ignored, and cut off when
    the log is opened to write (`repair=True`, as the search does)."""

    def __init__(self, path: Path, repair: bool = False):
        self.path = Path(path)
        self.children: list[Child] = []
        if self.path.exists():
            data = self.path.read_bytes()
            good = data[:data.rfind(b"\n") + 1]  # everything up to the last complete line
            self.children = [Child(**json.loads(line)) for line in good.decode().splitlines()]
            if repair and len(good) != len(data):
                self.path.write_bytes(good)

    def append(self, child: Child) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(asdict(child)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.children.append(child)


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


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a crash leaves either the old file or the new one, never half of one


class WorkerDied(RuntimeError):
    """The process training a child died twice (killed, out of memory...), not the child's own error."""


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
        self.running: dict[Future, tuple[int, Arch, float]] = {}

    def run(self, evaluate: Callable[[Arch], dict], jobs: list[tuple[int, Arch]]):
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


def search(space: SearchSpace, controller, evaluate: Callable[[Arch], dict], latency: Callable[[Arch], float],
           target_ms: float, constraint: Constraint, samples: int, batch: int, run_dir: Path,
           make_executor: Callable[[], Executor] = InlineExecutor, max_in_flight: int = 1,
           on_child: Callable[[Child], None] | None = None) -> list[Child]:
    """The search of Sec. 4.2 (Fig. 1): the controller proposes a batch of models; each is trained
    on the proxy task (`evaluate(arch) -> {"accuracy", "params", "macs"}`, run on an executor) and
    measured on the platform (`latency(arch) -> ms`, here in the driver, one child at a time); the
    reward of Eq. 2 updates the controller; repeat until `samples` children are done.

    State lives in `run_dir`: search.jsonl (the children) and controller.pt (the controller after
    its last update, how many children that update covered, and the proposed batch in flight).
    Calling `search` again on the same directory resumes: the pending batch is finished without
    re-evaluating a child already in the log, so a resumed search equals an uninterrupted one.
    With `max_in_flight=1` no child trains while a latency is measured.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = SearchLog(run_dir / "search.jsonl", repair=True)
    state_path = run_dir / "controller.pt"
    state = {"consumed": 0, "pending": []}
    if state_path.exists():
        state = torch.load(state_path, weights_only=True)
        controller.load_state_dict(state.pop("controller"))
    runner = ChildRunner(make_executor, max_in_flight)
    try:
        while state["consumed"] < samples:
            if not state["pending"]:  # propose the next batch, and record it before training anything
                state["pending"] = controller.propose(min(batch, samples - state["consumed"]))
                save_atomic({**state, "controller": controller.state_dict()}, state_path)
            first, pending = state["consumed"], state["pending"]
            done = {c.step: c for c in log.children if c.step >= first}
            jobs = [(first + j, space.decode(t)) for j, t in enumerate(pending) if first + j not in done]
            for step, arch, future, seconds in runner.run(evaluate, jobs):
                child = _finish_child(step, pending[step - first], arch, future, seconds, latency, target_ms, constraint)
                log.append(child)
                done[step] = child
                if on_child:
                    on_child(child)
            children = [done[first + j] for j in range(len(pending))]
            controller.update([c.tokens for c in children], [c.reward for c in children])
            state = {"consumed": first + len(children), "pending": []}
            save_atomic({**state, "controller": controller.state_dict()}, state_path)
    finally:
        runner.shutdown()
    return log.children


def _finish_child(step: int, tokens: list[int], arch: Arch, future: Future, seconds: float,
                  latency: Callable[[Arch], float], target_ms: float, constraint: Constraint) -> Child:
    """Turn a finished training job into a Child: measure LAT and compute the reward (Eq. 2)."""
    child = Child(step, tokens, arch_to_dict(arch), seconds=round(seconds, 2))
    try:
        result = future.result()
        child.accuracy, child.params, child.macs = result["accuracy"], result["params"], result["macs"]
        child.latency_ms = latency(arch)
        child.reward = reward(child.accuracy, child.latency_ms, target_ms, constraint.alpha, constraint.beta)
    except Exception as e:  # a failed child is logged and scores 0; the search goes on
        child.status = "failed: " + (f"{type(e).__name__}: {e}".splitlines() or [""])[0][:200]
        child.reward = 0.0
    return child
