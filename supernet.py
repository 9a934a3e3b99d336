"""Weight sharing: one supernet whose paths are the children of the MnasNet search space.

MnasNet trains every sampled model on the proxy task (Sec. 4.2: ~8K models, 4.5 days on 64 TPUv2).
Its successors made the same search affordable by training one network whose weights every child
shares, then scoring a child with those weights instead of training it:

  ENAS        Pham et al., "Efficient Neural Architecture Search via Parameter Sharing", ICML 2018:
              the same RNN controller and REINFORCE; children inherit the shared weights.
  SPOS        Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling",
              ECCV 2020: train the supernet on one uniformly sampled path per step, then score a
              child after re-estimating its BatchNorm statistics on a few training batches.
  SPNAS       Stamoulis et al., "Single-Path NAS", 2019: a 3x3 kernel is the centre of the 5x5.
  OFA         Cai et al., "Once-for-All", ICLR 2020: channels by slicing the widest weights.

How a path through this supernet is exactly one child of `models.py`:

  * Every layer position (block i, layer j, up to MobileNetV2's depth + 1) holds, for each ConvOp,
    the widest layer of that op: a `models.Layer` with the 1.25x filters, a 5x5 kernel and SE.
  * A child's layer is that wide layer with each tensor sliced to the child's shape: the first
    channels of every dimension, the centre of the kernel (`slice_to`). SERatio 0 leaves the SE
    weights out; SkipOp is parameter-free; a block's layers past the child's depth are skipped.
  * `forward(x, arch)` runs the network `models.build_model(arch)` itself, built on the meta device
    (no memory), with those slices as its weights (`torch.func.functional_call`), so gradients
    reach the shared tensors and BatchNorm updates their slices of the shared statistics.
    `extract(arch)` copies the same slices into a real network: it computes the same outputs, and
    can be fine-tuned, timed or exported like any other.

How a path is drawn (`sample`): uniformly from the whole space (SPOS) or from a `SubSpace`, a part
of it with some decisions fixed or restricted (`SUB_SPACES`); `space.decode` builds the child as for
any tokens. `train_sampled` trains on one path per step at a constant learning rate, or by BigNAS's
recipe (Yu et al., "BigNAS: Scaling Up NAS with Big Single-Stage Models", ECCV 2020):

  sandwich rule            each step trains the largest, the smallest and two random children
                           (`sandwich_step`), gradients summed before one optimizer step
  in-place distillation    the largest learns from the labels, the others from its soft predictions
  zero-initialized last BN of every residual body (`zero_init_residual_bn`): each residual layer
                           starts as the identity

    # train (resumable), then score a few children
    python supernet.py --steps 2000 --out runs/supernet.pt
    python train.py --search --evaluator supernet --supernet runs/supernet.pt

Copied alone it needs torch, mnas.py, models.py and training.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import replace  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.func import functional_call  # noqa: E402
from torch.utils.data import DataLoader, Dataset, RandomSampler  # noqa: E402
from tqdm import tqdm  # noqa: E402

import mnas  # noqa: E402
from cli import Parser, UsageError  # noqa: E402
import training  # noqa: E402
from models import (Arch, Layer, LayerSpec, MnasNet, SqueezeExcite, build_model, conv_bn,
                    count_params,  # noqa: E402
                    init_weights)

def slice_to(wide: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The part of a wide tensor a child uses: the first entries of every dimension, and the centre
    of a convolution kernel's two spatial dimensions (a 3x3 kernel is the middle of the 5x5)."""
    index = []
    for dim, (big, small) in enumerate(zip(wide.shape, shape)):
        start = (big - small) // 2 if dim >= 2 else 0
        index.append(slice(start, start + small))
    return wide[tuple(index)]


class Supernet(nn.Module):
    """Every child of `space` as a path through shared weights (see the module's docstring).

    Training mode without an architecture samples one path uniformly per call (SPOS); the number
    of paths taken is a buffer, so the sequence of paths survives a checkpoint and resumes
    exactly."""

    def __init__(self, space: mnas.SearchSpace, num_classes: int = 10, small_input: bool = True,
                 in_channels: int = 1,
                 dropout: float = 0.0, seed: int = 0):
        super().__init__()
        self.space, self.seed = space, seed
        self.child_args = {"num_classes": num_classes, "small_input": small_input,
                           "in_channels": in_channels,
                           "dropout": dropout}
        self.stem = conv_bn(in_channels, space.stem, 3, 1 if small_input else 2)
        self.layers = nn.ModuleDict()
        self.residual: set[str] = set()  # the layers some child gives an identity shortcut
        # the widths the next layer's input can have (a block of depth 0 passes its input on)
        widths = {space.stem}
        for i, (_, _, _, stride) in enumerate(space.skeleton):
            out, depth = max(space.block_filters(i)), max(space.block_layers(i))
            for j in range(depth):
                cin = max(widths) if j == 0 else out
                # models.effective_skip: identity needs stride 1 and the same channels in and out
                same = j > 0 or (stride == 1 and bool(widths & set(space.block_filters(i))))
                for op, e in mnas.CONV_OPS:
                    spec = LayerSpec(op, cin, out, max(mnas.KERNELS), stride if j == 0 else 1, e,
                                     max(mnas.SE_RATIOS), "none")
                    self.layers[self._key(i, j, op, e)] = Layer(spec)
                    if same:
                        self.residual.add(self._key(i, j, op, e))
            widths = set(space.block_filters(i)) | (widths if 0 in space.block_layers(i) else set())
        self.head = conv_bn(max(widths), space.head)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(space.head, num_classes))
        self.register_buffer("paths_taken", torch.zeros((), dtype=torch.long))
        init_weights(self)
        # per supernet; a path is rebuilt when evicted
        self._skeleton = lru_cache(maxsize=64)(self._build_skeleton)

    @staticmethod
    def _key(i: int, j: int, op: str, e: int) -> str:
        return f"block{i + 1}_layer{j + 1}_{op}{e if op == 'mbconv' else ''}"

    def _build_skeleton(self, arch: Arch) -> tuple[MnasNet, dict[str, str]]:
        """The child network without memory (meta device), and for each of its tensors the shared
        tensor it slices."""
        with torch.device("meta"):
            child = build_model(arch, **self.child_args)
        shared = {}  # child tensor name -> shared tensor name

        def pair(child_prefix: str, module: nn.Module, shared_prefix: str) -> None:
            for name, _ in list(module.named_parameters()) + list(module.named_buffers()):
                shared[f"{child_prefix}.{name}"] = f"{shared_prefix}.{name}"

        for i, block in enumerate(child.blocks):
            for j, layer in enumerate(block):
                key = self._key(i, j, arch.blocks[i].op, arch.blocks[i].expansion)
                # The child's body is the wide body without its SE when the child's SERatio is 0.
                has_se = any(isinstance(m, SqueezeExcite) for m in layer.body)
                wide = [
                    w
                    for w, m in enumerate(self.layers[key].body)
                    if has_se or not isinstance(m, SqueezeExcite)
                ]
                for k, w in enumerate(wide):
                    pair(f"blocks.{i}.{j}.body.{k}", layer.body[k], f"layers.{key}.body.{w}")
        for part in ("stem", "head", "classifier"):
            pair(part, getattr(child, part), part)
        return child, shared

    def path(self, arch: Arch) -> dict[str, torch.Tensor]:
        """The child's state: each of its tensors, a slice (a view) of the shared one."""
        child, shared = self._skeleton(arch)
        own = dict(self.named_parameters()) | dict(self.named_buffers())
        return {name: slice_to(own[shared[name]], t.shape)
                for name, t in list(child.named_parameters()) + list(child.named_buffers())}

    def sample(self, draw: Callable[[random.Random], list[int]] | None = None) -> Arch:
        """The next random path: a function of the seed and the paths taken so far. Uniform over
        the space (SPOS), or tokens from `draw(rng)`, e.g. a `SubSpace`'s `draw`."""
        rng = random.Random(self.seed * 1_000_003 + int(self.paths_taken))
        self.paths_taken += 1
        return self.space.decode((draw or self.space.sample)(rng))

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        if arch is None:
            if not self.training:
                raise ValueError("an evaluation needs an architecture: supernet(x, arch)")
            arch = self.sample()
        child, _ = self._skeleton(arch)
        child.train(self.training)
        return functional_call(child, self.path(arch), (x,))

    def extract(self, arch: Arch) -> MnasNet:
        """`models.build_model(arch)` carrying the inherited weights: the same outputs as the
        path."""
        child = build_model(arch, **self.child_args)
        child.load_state_dict({name: t.detach().clone() for name, t in self.path(arch).items()})
        return child.to(next(self.parameters()).device)


# ----------------------------------------------------------------------------- sub-spaces


class SubSpace:
    """Part of a search space: for each of a block's decisions (a key of mnas.BLOCK_CHOICES), the
    values a path may take, the same in every block; a decision not named takes any value.

        SubSpace(space, skip=("identity",), layers=(0, 1))   # identity shortcuts, depth +0 or +1

    `draw(rng)` gives tokens uniformly over the part (with nothing restricted, exactly
    `space.sample`'s), so `space.decode` builds the child and `Supernet.sample(sub.draw)` takes
    it; `tokens in sub` says whether a child lies in the part."""

    def __init__(self, space: mnas.SearchSpace, **allowed: Sequence):
        for field, values in allowed.items():
            choices = mnas.BLOCK_CHOICES.get(field)
            if choices is None:
                raise ValueError(f"unknown decision '{field}' "
                                 f"(choose from {', '.join(mnas.BLOCK_CHOICES)})")
            if not values or any(v not in choices for v in values):
                raise ValueError(f"{field}: {list(values)} must be a non-empty part of "
                                 f"{list(choices)}")
        self.space = space
        self.allowed = {field: tuple(values) for field, values in allowed.items()}
        # per decision of the space, in its order: the tokens allowed
        self.tokens = [tuple(mnas.BLOCK_CHOICES[field].index(v) for v in self.allowed[field])
                       if field in self.allowed else tuple(range(n))
                       for field, n in ((name.split(".")[1], n) for name, n in space.decisions)]

    def draw(self, rng: random.Random) -> list[int]:
        return [t[rng.randrange(len(t))] for t in self.tokens]

    def __contains__(self, tokens: Sequence[int]) -> bool:
        fits = zip(tokens, self.tokens)
        return len(tokens) == len(self.tokens) and all(t in ok for t, ok in fits)


# Named parts of mnas.SearchSpace. The spaces where one-shot training is reported to work keep a
# signal every path shares (NAS-NOTES.md Sec. 7): OFA and BigNAS keep residuals on every non-first
# layer of a stage and at least one layer per stage, and never vary the op or the skip type.
SUB_SPACES: dict[str, dict[str, tuple]] = {
    "uniform": {},  # SPOS: every decision uniform
    "identity": {"skip": ("identity",), "layers": (0, 1)},  # no vanished blocks (depth 1 -1 = 0)
    "identity-mbconv": {"skip": ("identity",), "layers": (0, 1),
                        "conv_op": (("mbconv", 3), ("mbconv", 6))},
}

# BigNAS's sandwich on "identity-mbconv": its largest and its smallest child, in every block.
LARGEST = {"conv_op": ("mbconv", 6), "kernel": 5, "se_ratio": 0.25, "skip": "identity",
           "filters": 1.25, "layers": 1}
SMALLEST = {"conv_op": ("mbconv", 3), "kernel": 3, "se_ratio": 0.0, "skip": "identity",
            "filters": 0.75, "layers": 0}


def fixed_path(space: mnas.SearchSpace, values: dict) -> Arch:
    """The child taking `values` (one per decision of mnas.BLOCK_CHOICES) in every block."""
    only = SubSpace(space, **{field: (value,) for field, value in values.items()})
    return space.decode(only.draw(random.Random(0)))  # one choice per decision: any rng


# ----------------------------------------------------------------------------- BigNAS's recipe


@torch.no_grad()
def zero_init_residual_bn(net: Supernet) -> list[str]:
    """BigNAS's initialization: the learnable scale gamma of the last BatchNorm of every residual
    body starts at 0, so each residual layer starts as the identity (AttentiveNAS's code calls it
    `zero_residual_block_bn_weights`: the linear projection's BN of every MBConv with a shortcut).
    Done here on every shared body some child gives an identity shortcut (`net.residual`) whose
    last BatchNorm is linear (MBConv, dconv: the projection); a conv body's last BatchNorm feeds a
    ReLU, where gamma = beta = 0 would get no gradient (ReLU'(0) = 0) and stay dead.
    Returns the layers it zeroed."""
    zeroed = []
    for key in sorted(net.residual):
        if key.endswith("_conv"):
            continue
        last = [m for m in net.layers[key].body.modules() if isinstance(m, nn.BatchNorm2d)][-1]
        last.weight.zero_()
        zeroed.append(key)
    return zeroed


def sandwich_step(net: Supernet, x: torch.Tensor, y: torch.Tensor, sub: SubSpace,
                  label_smoothing: float = 0.0) -> dict:
    """One step's gradients by BigNAS's sandwich rule with in-place distillation, summed into the
    shared weights' .grad (the caller clips and steps). Sandwich rule: each step trains the
    largest child (`LARGEST`), the smallest (`SMALLEST`) and two random children of `sub`.
    In-place distillation: the largest learns from the labels, the other three from the largest's
    predicted probabilities of the same step, detached (a target, not a path for gradients)."""
    largest, smallest = fixed_path(net.space, LARGEST), fixed_path(net.space, SMALLEST)
    archs = [largest, smallest, net.sample(sub.draw), net.sample(sub.draw)]
    logits = net(x, largest)
    loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {loss.item()}")
    loss.backward()
    teacher = logits.detach().softmax(1)  # the largest's probabilities: the others' targets
    distill = []
    for arch in archs[1:]:
        kd = F.cross_entropy(net(x, arch), teacher)  # cross-entropy with soft targets
        kd.backward()  # accumulated: one optimizer step for all four
        distill.append(kd.item())
    return {"loss": loss.item(), "distill": sum(distill) / len(distill), "archs": archs}


def train_sampled(net: Supernet, data: Dataset, cfg: training.TrainConfig, sub: SubSpace,
                  sandwich: bool = False, progress: bool = False) -> dict[str, list[float]]:
    """`cfg.steps` steps of the proxy's optimizer (SGD, Nesterov momentum, `cfg`'s batch, decay,
    label smoothing and clipping) at a CONSTANT learning rate `cfg.lr` (no one-cycle schedule:
    train_steps' warm-up and decay would hide whether the supernet learns at a given rate), on
    one path of `sub` per step (SPOS) or, with `sandwich`, by `sandwich_step`. The batches are
    train_steps': drawn with replacement, seeded by `cfg.seed`.

    Returns, per step: "loss" (the path's, or the largest's, on the labels), "grad_norm" (the
    gradient's global norm BEFORE clipping) and, with `sandwich`, "distill" (the mean of the
    other three children's distillation losses)."""
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net.to(cfg.device, memory_format=layout)
    # no scheduler: the learning rate stays cfg.lr
    opt = torch.optim.SGD(training.param_groups(net, cfg), cfg.lr, momentum=0.9, nesterov=True)
    seed = torch.Generator().manual_seed(cfg.seed)
    order = RandomSampler(data, True, cfg.steps * cfg.batch_size, seed)
    loader = DataLoader(data, cfg.batch_size, sampler=list(order))
    curves: dict[str, list[float]] = {"loss": [], "grad_norm": []}
    if sandwich:
        curves["distill"] = []
    net.train()
    bar = tqdm(loader, total=cfg.steps, disable=not progress, desc="train", unit="step",
               mininterval=2)
    for batch in bar:
        x, y = training.to_device(batch, cfg.device, cfg.channels_last)
        opt.zero_grad(set_to_none=True)
        if sandwich:
            got = sandwich_step(net, x, y, sub, cfg.label_smoothing)
            curves["distill"].append(got["distill"])
            loss = got["loss"]
        else:
            logits = net(x, net.sample(sub.draw))  # one path of the part (SPOS)
            out = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            if not torch.isfinite(out):
                raise FloatingPointError(f"loss became {out.item()}")
            out.backward()
            loss = out.item()
        # clip_grad_norm_ returns the norm of the gradient as it was, before it scales it down
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_grad_norm or math.inf)
        opt.step()
        curves["loss"].append(loss)
        curves["grad_norm"].append(norm.item())
        bar.set_postfix(loss=f"{loss:.3f}", grad_norm=f"{norm.item():.1f}", refresh=False)
    return curves


def gradient_norm(net: Supernet, arch: Arch, x: torch.Tensor, y: torch.Tensor,
                  label_smoothing: float = 0.0) -> float:
    """The global norm of one path's gradient on one batch (training mode); the supernet is left as
    it was: no gradient kept, BatchNorm statistics restored."""
    buffers = {name: b.clone() for name, b in net.named_buffers()}
    was_training = net.training
    net.train().zero_grad(set_to_none=True)
    F.cross_entropy(net(x, arch), y, label_smoothing=label_smoothing).backward()
    grads = [p.grad.norm() for p in net.parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(grads))
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        for name, b in net.named_buffers():
            b.copy_(buffers[name])
    net.train(was_training)
    return norm.item()


# ----------------------------------------------------------------------------- scoring


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
    """Re-estimate every BatchNorm's statistics as the plain average over `batches` (SPOS): a path
    trained in a supernet has statistics mixed from many paths. Changes nothing but statistics."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    model.train()
    for x in batches:
        model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def calibration_batches(data: Dataset, n: int = 4, batch_size: int = 128, seed: int = 0,
                        device: str = "cpu") -> list[torch.Tensor]:
    """`n` fixed batches of training images for BatchNorm re-estimation (the same for every
    child)."""
    loader = DataLoader(data, batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    return [training.to_device(x, device) for x, _ in (batch for _, batch in zip(range(n), loader))]


def score(supernet: Supernet, arch: Arch, val: Dataset, batches: list[torch.Tensor]) -> dict:
    """ACC(m) from shared weights: the extracted child, its BatchNorm re-estimated, on held-out
    data."""
    # as training does
    child = recalibrate_bn(supernet.extract(arch).to(memory_format=torch.channels_last), batches)
    return {"accuracy": training.accuracy(child, val), **training.deployment_size(arch)}


@lru_cache(maxsize=2)
def _loaded(checkpoint: str, data: training.DataSpec,
            device: str) -> tuple[Supernet, list[torch.Tensor], Dataset]:
    """A trained supernet, the BatchNorm calibration batches and the held-out split, once per
    process."""
    splits = training.load_splits(data)
    return (
        load(Path(checkpoint), data, device),
        calibration_batches(splits["train"], seed=data.seed, device=device),
        splits["val"],
    )


def evaluate(arch: Arch, checkpoint: str, data: training.DataSpec, device: str = "cpu",
             threads: int = 0) -> dict:
    """ACC(m) for the search from the shared weights: `training.proxy_train`'s counterpart, a plain
    function of picklable arguments, so it runs the same inline, in a process pool or on Dask."""
    if threads:
        torch.set_num_threads(threads)
    net, batches, val = _loaded(checkpoint, data, device)
    return score(net, arch, val, batches)


# The supernet's training: the proxy's optimizer with the final recipe's guards, 2,000 steps of 64.
TRAIN = training.TrainConfig(steps=2000, batch_size=64, lr=0.05, label_smoothing=0.1,
                             clip_grad_norm=5.0)


def for_data(data: training.DataSpec, dropout: float = 0.0, seed: int = 0) -> Supernet:
    """A supernet over mnas.SearchSpace shaped for a dataset (channels, classes, small-input stem),
    as training.make_model."""
    channels, size, classes = training.data_shape(training.load_splits(data))
    return Supernet(mnas.SearchSpace(), classes, size < 64, channels, dropout, seed)


def train_supernet(data: training.DataSpec, cfg: training.TrainConfig, checkpoint: Path,
                   progress: bool = True) -> Supernet:
    """Train a supernet on `data` with the proxy's optimizer (one path per step, `cfg.steps` steps),
    checkpointed to `checkpoint` and resumed from it; return it."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    supernet = for_data(data, cfg.dropout, cfg.seed)
    training.train_steps(supernet, training.load_splits(data)["train"], cfg, progress,
                         checkpoint=checkpoint)
    return supernet


def load(checkpoint: Path, data: training.DataSpec, device: str = "cpu") -> Supernet:
    """A trained supernet from its checkpoint (the model part of train_steps' file)."""
    supernet = for_data(data)
    supernet.load_state_dict(torch.load(checkpoint, weights_only=True,
                                        map_location=device)["model"])
    return supernet.to(device).eval()


def main(argv: list[str] | None = None) -> int:
    p = Parser(description="Train a weight-sharing supernet over the MnasNet space, then score "
                           "children.")
    p.add_argument("--out", default="runs/supernet.pt",
                   help="the checkpoint: written as it trains, resumed if it exists")
    p.add_argument("--dataset", default="fashion-mnist", choices=training.DATASETS)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--steps", type=int, default=TRAIN.steps)
    p.add_argument("--batch-size", type=int, default=TRAIN.batch_size)
    p.add_argument("--lr", type=float, default=TRAIN.lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--score", type=int, default=5,
                   help="children to score after training (random, seeded)")
    args = p.parse_args(argv)
    try:
        if args.steps < 1 or args.batch_size < 2 or args.lr <= 0:
            raise UsageError("--steps must be >= 1, --batch-size >= 2 and --lr > 0")
        data = training.DataSpec(args.dataset, args.data_dir, seed=args.seed)
        cfg = replace(TRAIN, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      seed=args.seed,
                      threads=args.threads, device=training.pick_device(args.device))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        supernet = train_supernet(data, cfg, Path(args.out))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    splits = training.load_splits(data)
    batches = calibration_batches(splits["train"], device=cfg.device)
    space, rng = mnas.SearchSpace(), random.Random(args.seed)
    for _ in range(args.score):
        arch = space.decode(space.sample(rng))
        t0 = time.time()
        got = score(supernet, arch, splits["val"], batches)
        print(f"child: accuracy {got['accuracy']:.4f}  {got['macs'] / 1e6:.0f}M MACs  scored in "
              f"{time.time() - t0:.1f} s")
    print(f"supernet: {args.out} ({count_params(supernet) / 1e6:.1f}M shared parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
