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
import math
import random
from dataclasses import dataclass

from models import MOBILENETV2_BLOCKS, Arch, BlockArgs

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
