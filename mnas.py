"""The MnasNet method: the objective (paper Sec. 3), the factorized hierarchical search space
(Sec. 4.1) and the search loop of Fig. 1 (Sec. 4.2).

Sec. 3   `reward`: the multi-objective reward ACC(m) * [LAT(m)/T]^w of Eq. 2, with the soft and
         hard constraints of Eq. 3 as the presets SOFT and HARD.
Sec. 4.1 `SearchSpace`: seven blocks on the MobileNetV2 skeleton; the controller picks six values
         per block (ConvOp, KernelSize, SERatio, SkipOp, filters, layers), and `decode` turns the
         token sequence into a `models.Arch`. `CellSpace`: the cell-based space it replaced
         (Table 5): one set of the six values, stacked in every block.
Sec. 4.2 `search`: sample, decode, train on the proxy task (ACC), measure on the platform
         (LAT, a `LatencyTarget` with T), reward (`measure_and_reward`), update. Its
         bookkeeping sits beside it: `SearchLog` (search.jsonl), `Plan` (controller.pt) and
         runner.py (executors, retries); they resume a stopped search, not the loop.

Copied alone: `reward` and `Constraint` need only the standard library; `SearchSpace` needs
models.py's descriptions; `search` needs runner.py and a learning rule with propose/update
(controller.LearningRule).

Reference: Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import asdict, dataclass
from pathlib import Path

from models import MOBILENETV2_BLOCKS, Arch, BlockArgs, arch_to_dict
from runner import ChildRunner, InlineExecutor, save_atomic

# ----------------------------------------------------------------------------- Sec. 3: the
# objective


@dataclass(frozen=True)
class Constraint:
    """The exponents of Eq. 3: w = alpha if LAT <= T, else beta."""

    alpha: float
    beta: float


# Soft: a model 2x slower must be ~5% more accurate to earn the same reward: 1.05 * 2^-0.07 ~ 1.
# With alpha = beta, T is one factor of every reward, so it cannot steer a soft search.
SOFT = Constraint(alpha=-0.07, beta=-0.07)
# Hard: accuracy alone below the target, a sharp penalty above it (the ACC * T/LAT of Eq. 1's
# spirit).
HARD = Constraint(alpha=0.0, beta=-1.0)


def reward(acc: float, lat: float, target: float, alpha: float = SOFT.alpha,
           beta: float = SOFT.beta) -> float:
    """ACC(m) * [LAT(m) / T]^w  (Eq. 2), with w = alpha if LAT(m) <= T else beta  (Eq. 3). LAT(m)
    and T in one unit: ms of measured latency, or whatever stands in for it (M MACs)."""
    if lat <= 0 or target <= 0:
        raise ValueError(f"latency and target must be positive, got LAT={lat} T={target}")
    w = alpha if lat <= target else beta  # Eq. 3: w = alpha if LAT(m) <= T, else beta
    return acc * (lat / target) ** w  # Eq. 2: ACC(m) * [LAT(m) / T]^w


# ---------------------------------------------------------------------- Sec. 4.1: the search space

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
    432^7 ~ 2.8e18 architectures (a per-layer space over the skeleton's 17 layers would have
    432^17).

    Tokens are one int per decision, block by block, in `decisions` order. `decode` is one-to-one
    on descriptions; a few distinct descriptions build the same network (e.g. an identity skip on
    a layer that changes channels has nothing to add to), as in the paper's own count.
    """

    def __init__(self, skeleton: list[tuple[int, int, int, int]] = MOBILENETV2_BLOCKS,
                 stem: int = 32, head: int = 1280):
        # (t, c, n, s) per block: MobileNetV2's expansion, width, depth, stride
        self.skeleton = list(skeleton)
        self.stem, self.head = stem, head
        self.decisions: list[tuple[str, int]] = [
            (f"block{i + 1}.{name}", len(choices))
            for i in range(len(self.skeleton))
            for name, choices in BLOCK_CHOICES.items()
        ]

    @property
    def size(self) -> int:
        """The number of distinct architectures: the product of every decision's choice count."""
        return math.prod(n for _, n in self.decisions)

    def block_filters(self, i: int) -> tuple[int, ...]:
        """The output-channel choices of block i: 0.75x, 1x, 1.25x the MobileNetV2 width,
        rounded."""
        return tuple(int(round(self.skeleton[i][1] * m)) for m in FILTER_MULTS)

    def block_layers(self, i: int) -> tuple[int, ...]:
        """The layer-count choices of block i: MobileNetV2's depth -1, +0, +1 (0 drops the
        block)."""
        return tuple(max(0, self.skeleton[i][2] + d) for d in LAYER_DELTAS)

    def block_options(self, i: int) -> list[BlockArgs]:
        """All 432 descriptions block i can take (a latency table times every layer among them)."""
        every = itertools.product(*(range(len(c)) for c in BLOCK_CHOICES.values()))
        return [self.block(i, list(six)) for six in every]

    def block(self, i: int, six: list[int]) -> BlockArgs:
        """Block i from its six tokens, in BLOCK_CHOICES order; the stride is the skeleton's."""
        op, kernel, se, skip, filters, layers = six
        (op_name, expansion) = CONV_OPS[op]
        return BlockArgs(op=op_name, expansion=expansion, kernel=KERNELS[kernel],
                         stride=self.skeleton[i][3], repeats=self.block_layers(i)[layers],
                         out=self.block_filters(i)[filters], se_ratio=SE_RATIOS[se],
                         skip=SKIP_OPS[skip])

    def split(self, tokens: list[int]) -> list[list[int]]:
        """The six tokens of each block: here every block has its own (the factorized space)."""
        per_block = len(BLOCK_CHOICES)
        return [list(tokens[i * per_block:(i + 1) * per_block]) for i in range(len(self.skeleton))]

    def join(self, per_block: list[list[int]]) -> list[int]:
        """`split`'s inverse: the controller's tokens from each block's six."""
        return [t for six in per_block for t in six]

    def decode(self, tokens: list[int]) -> Arch:
        """Tokens (one per decision) -> an architecture description."""
        if len(tokens) != len(self.decisions):
            raise ValueError(f"expected {len(self.decisions)} tokens, got {len(tokens)}")
        for t, (name, n) in zip(tokens, self.decisions):
            if not 0 <= t < n:
                raise ValueError(f"token for {name} must be in [0, {n}), got {t}")
        blocks = [self.block(i, six) for i, six in enumerate(self.split(tokens))]
        return Arch(tuple(blocks), stem=self.stem, head=self.head)

    def encode(self, arch: Arch) -> list[int]:
        """An architecture description -> tokens; ValueError naming the block and field outside the
        space."""
        if (arch.stem, arch.head) != (self.stem, self.head):
            raise ValueError(f"stem/head must be {self.stem}/{self.head} in this space, got "
                             f"{arch.stem}/{arch.head}")
        if len(arch.blocks) != len(self.skeleton):
            raise ValueError(f"this space has {len(self.skeleton)} blocks, the architecture has "
                             f"{len(arch.blocks)}")

        def index(i: int, field: str, value, choices) -> int:
            if value not in choices:
                raise ValueError(f"blocks[{i}]: {field} {value!r} is not in the search space "
                                 f"(choices: {list(choices)})")
            return list(choices).index(value)

        per_block = []
        for i, b in enumerate(arch.blocks):
            if b.stride != self.skeleton[i][3]:
                raise ValueError(f"blocks[{i}]: stride {b.stride} is fixed to "
                                 f"{self.skeleton[i][3]} by the skeleton")
            per_block.append([
                index(i, "conv_op", (b.op, b.expansion), CONV_OPS),
                index(i, "kernel", b.kernel, KERNELS),
                index(i, "se_ratio", b.se_ratio, SE_RATIOS),
                index(i, "skip", b.skip, SKIP_OPS),
                index(i, "filters", b.out, self.block_filters(i)),
                index(i, "layers", b.repeats, self.block_layers(i)),
            ])
        return self.join(per_block)

    def sample(self, rng: random.Random) -> list[int]:
        """Uniformly random tokens (the random-search baseline's proposal)."""
        return [rng.randrange(n) for _, n in self.decisions]


class CellSpace(SearchSpace):
    """The cell-based space MnasNet's factorized space replaced (Sec. 4.1; Table 5): one cell, the
    same six decisions in every block, stacked as NASNet stacks its cell, so the controller emits
    6 tokens instead of 42 and the space has 432 architectures. Filters and layers stay relative to
    each block's own MobileNetV2 width and depth (0.75x block i's width; block i's depth -1/0/+1),
    and strides come from the skeleton, as in the factorized space."""

    def __init__(self, skeleton: list[tuple[int, int, int, int]] = MOBILENETV2_BLOCKS,
                 stem: int = 32, head: int = 1280):
        super().__init__(skeleton, stem, head)
        self.decisions = [(f"cell.{name}", len(choices)) for name, choices in BLOCK_CHOICES.items()]

    def split(self, tokens: list[int]) -> list[list[int]]:
        """The cell, repeated in every block."""
        return [list(tokens)] * len(self.skeleton)

    def join(self, per_block: list[list[int]]) -> list[int]:
        """The cell's six tokens; ValueError naming the block and field where the blocks differ."""
        for i, six in enumerate(per_block[1:], 1):
            for (field, choices), t, first in zip(BLOCK_CHOICES.items(), six, per_block[0]):
                if t != first:
                    raise ValueError(f"blocks[{i}]: {field} {choices[t]!r} differs from "
                                     f"blocks[0]'s {choices[first]!r}; the cell space repeats "
                                     "one cell in every block")
        return per_block[0]


# ----------------------------------------------------------------------------- Sec. 4.2: the search


@dataclass
class Child:
    """One sampled model and what the search learned about it: a line of search.jsonl."""

    step: int  # index of the child in the search, 0-based
    tokens: list[int]
    arch: dict  # models.arch_to_dict(decode(tokens))
    accuracy: float | None = None  # ACC(m) on the held-out split after proxy training
    latency_ms: float | None = None  # the deployment network's latency on the target platform, ms
    reward: float = 0.0  # Eq. 2; 0 for a failed child
    params: int | None = None
    macs: int | None = None
    seconds: float = 0.0  # wall time of training and evaluation
    status: str = "ok"  # "ok" or "failed: <reason>"
    lat: float | None = None  # LAT(m) as it entered Eq. 2, in the run's units (run.json's
    #                           lat_unit: ms, or M MACs); None in logs from before it: latency_ms


class SearchLog:
    """search.jsonl: one JSON line per finished child, appended and fsynced, so a crash loses at
    most the children in flight. A truncated last line (a crash mid-write) is ignored, and cut off
    when the log is opened to write (`repair=True`, as the search does)."""

    def __init__(self, path: Path, repair: bool = False):
        self.path = Path(path)
        self.children: list[Child] = []
        if self.path.exists():
            data = self.path.read_bytes()
            good = data[:data.rfind(b"\n") + 1]  # everything up to the last complete line
            self.children = [Child(**json.loads(line)) for line in good.decode().splitlines()]
            if repair and len(good) != len(data):
                self.path.write_bytes(good)
        self.steps = {c.step: c for c in self.children}

    def missing(self, archs: dict[int, Arch]) -> list[tuple[int, Arch]]:
        """The (step, arch) of `archs` not logged yet: all of them, but for a resumed batch."""
        return [(step, arch) for step, arch in archs.items() if step not in self.steps]

    def batch(self, steps) -> list[Child]:
        """The logged children of these steps, in order."""
        return [self.steps[step] for step in steps]

    def append(self, child: Child) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(asdict(child)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.children.append(child)
        self.steps[child.step] = child


class Plan:
    """controller.pt: the learning rule after its last update, how many children that update covered
    (`consumed`) and the batch it proposed next (`pending`), saved before any of it is trained. With
    search.jsonl it is all a stopped search needs to go on exactly as if it had not stopped."""

    def __init__(self, path: Path, rule):
        self.path, self.rule = Path(path), rule
        self.consumed, self.pending = 0, []
        if self.path.exists():
            import torch

            state = torch.load(self.path, weights_only=True)
            rule.load_state_dict(state["controller"])
            self.consumed, self.pending = state["consumed"], state["pending"]

    def batches(self, samples: int, batch: int) -> Iterator[tuple[int, list[list[int]]]]:
        """(index of the first child, tokens) of each batch until `samples` children: a resumed
        search first gets the batch it had proposed. The next batch is proposed only once the
        loop has updated the rule with this one (the code after `yield`)."""
        while self.consumed < samples:
            if not self.pending:
                self.pending = self.rule.propose(min(batch, samples - self.consumed))
                self._save()
            yield self.consumed, self.pending
            self.consumed, self.pending = self.consumed + len(self.pending), []  # rule updated
            self._save()

    def _save(self) -> None:
        state = {"consumed": self.consumed, "pending": self.pending,
                 "controller": self.rule.state_dict()}
        save_atomic(state, self.path)


@dataclass(frozen=True)
class LatencyTarget:
    """LAT(m) and the target T of Eq. 2, in one unit: measured ms, or whatever stands in for the
    latency (the M MACs a search without measurements would use: Sec. 1). With a stand-in,
    `measured_ms` is the platform's latency in ms, logged beside it."""

    lat: Callable[[Arch], float]  # LAT(m), in T's unit
    target: float  # T
    unit: str = "ms"
    measured_ms: Callable[[Arch], float] | None = None

    def measure(self, arch: Arch) -> tuple[float, float]:
        """(LAT(m) in T's unit, the latency on the platform in ms)."""
        lat = self.lat(arch)
        return lat, self.measured_ms(arch) if self.measured_ms else lat


def search(space: SearchSpace, rule, evaluate: Callable[[Arch], dict], platform: LatencyTarget,
           constraint: Constraint, samples: int, batch: int, run_dir: Path,
           make_executor: Callable[[], Executor] = InlineExecutor, max_in_flight: int = 1,
           on_child: Callable[[Child], None] | None = None) -> list[Child]:
    """The search of Sec. 4.2, the loop of Fig. 1: the controller samples a batch of models; each is
    trained on the proxy task for ACC(m) (`evaluate(arch) -> {"accuracy", "params", "macs"}`, on an
    executor: runner.ChildRunner) and run on the platform for LAT(m) (`platform`, in this
    process); the reward of Eq. 2 against the target T updates the controller's learning rule
    (`rule`: controller.LearningRule); repeat until `samples` children.

    State lives in `run_dir`: search.jsonl (`SearchLog`, a line per child) and controller.pt
    (`Plan`). Calling `search` again on the same directory resumes: `Plan` hands back the batch
    it had proposed and `SearchLog` the children of it already logged, so a resumed search equals
    an uninterrupted one. With `max_in_flight=1` no child trains while a latency is measured.
    """
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    log = SearchLog(Path(run_dir) / "search.jsonl", repair=True)  # resumes: children logged
    plan = Plan(Path(run_dir) / "controller.pt", rule)  # resumes: the rule, its pending batch
    runner = ChildRunner(make_executor, max_in_flight)
    try:
        for first, tokens in plan.batches(samples, batch):  # 1. sample models from the controller
            archs = {first + j: space.decode(t) for j, t in enumerate(tokens)}  # 2. decode
            for step, arch, trained, seconds in runner.run(evaluate, log.missing(archs)):  # 3. ACC
                child = measure_and_reward(step, tokens[step - first], arch, trained, seconds,
                                           platform, constraint)  # 4. LAT(m), reward (Eq. 2)
                log.append(child)
                if on_child:
                    on_child(child)
            children = log.batch(archs)
            rule.update([c.tokens for c in children], [c.reward for c in children])  # 5. update
    finally:
        runner.shutdown()
    return log.children


def measure_and_reward(step: int, tokens: list[int], arch: Arch, trained: Future, seconds: float,
                       platform: LatencyTarget, constraint: Constraint) -> Child:
    """A trained child's LAT(m), measured on the platform, and its reward (Eq. 2). A child whose
    training or timing failed is logged with reward 0, and the search goes on."""
    child = Child(step, tokens, arch_to_dict(arch), seconds=round(seconds, 2))
    try:
        result = trained.result()
        child.accuracy, child.params, child.macs = (
            result["accuracy"],
            result["params"],
            result["macs"],
        )
        child.lat, child.latency_ms = platform.measure(arch)  # LAT(m) in T's unit; ms
        # Eq. 2: ACC(m) * [LAT(m) / T]^w, with w from Eq. 3
        child.reward = reward(child.accuracy, child.lat, platform.target, constraint.alpha,
                              constraint.beta)
    except Exception as e:
        child.status = "failed: " + (f"{type(e).__name__}: {e}".splitlines() or [""])[0][:200]
        child.reward = 0.0
    return child
