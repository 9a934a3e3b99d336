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

    python supernet.py --steps 2000 --out runs/supernet.pt      # train (resumable), then score a few children
    python train.py --search --evaluator supernet --supernet runs/supernet.pt
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.func import functional_call  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

import mnas  # noqa: E402
import training  # noqa: E402
from models import (Arch, Layer, LayerSpec, MnasNet, SqueezeExcite, build_model, conv_bn, count_params,  # noqa: E402
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
    of paths taken is a buffer, so the sequence of paths survives a checkpoint and resumes exactly."""

    def __init__(self, space: mnas.SearchSpace, num_classes: int = 10, small_input: bool = True, in_channels: int = 1,
                 dropout: float = 0.0, seed: int = 0):
        super().__init__()
        self.space, self.seed = space, seed
        self.child_args = {"num_classes": num_classes, "small_input": small_input, "in_channels": in_channels,
                           "dropout": dropout}
        self.stem = conv_bn(in_channels, space.stem, 3, 1 if small_input else 2)
        self.layers = nn.ModuleDict()
        widths = {space.stem}  # the widths the next layer's input can have (a block of depth 0 passes its input on)
        for i, (_, _, _, stride) in enumerate(space.skeleton):
            out, depth = max(space.block_filters(i)), max(space.block_layers(i))
            for j in range(depth):
                cin = max(widths) if j == 0 else out
                for op, e in mnas.CONV_OPS:
                    spec = LayerSpec(op, cin, out, max(mnas.KERNELS), stride if j == 0 else 1, e, max(mnas.SE_RATIOS), "none")
                    self.layers[self._key(i, j, op, e)] = Layer(spec)
            widths = set(space.block_filters(i)) | (widths if 0 in space.block_layers(i) else set())
        self.head = conv_bn(max(widths), space.head)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(space.head, num_classes))
        self.register_buffer("paths_taken", torch.zeros((), dtype=torch.long))
        init_weights(self)
        self._skeleton = lru_cache(maxsize=64)(self._build_skeleton)  # per supernet; a path is rebuilt when evicted

    @staticmethod
    def _key(i: int, j: int, op: str, e: int) -> str:
        return f"block{i + 1}_layer{j + 1}_{op}{e if op == 'mbconv' else ''}"

    def _build_skeleton(self, arch: Arch) -> tuple[MnasNet, dict[str, str]]:
        """The child network without memory (meta device), and for each of its tensors the shared tensor it slices."""
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
                wide = [w for w, m in enumerate(self.layers[key].body) if has_se or not isinstance(m, SqueezeExcite)]
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

    def sample(self) -> Arch:
        """The next uniformly random path (SPOS): a function of the seed and the paths taken so far."""
        rng = random.Random(self.seed * 1_000_003 + int(self.paths_taken))
        self.paths_taken += 1
        return self.space.decode(self.space.sample(rng))

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        if arch is None:
            if not self.training:
                raise ValueError("an evaluation needs an architecture: supernet(x, arch)")
            arch = self.sample()
        child, _ = self._skeleton(arch)
        child.train(self.training)
        return functional_call(child, self.path(arch), (x,))

    def extract(self, arch: Arch) -> MnasNet:
        """`models.build_model(arch)` carrying the inherited weights: the same outputs as the path."""
        child = build_model(arch, **self.child_args)
        child.load_state_dict({name: t.detach().clone() for name, t in self.path(arch).items()})
        return child.to(next(self.parameters()).device)


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


def calibration_batches(data: Dataset, n: int = 4, batch_size: int = 128, seed: int = 0, device: str = "cpu") -> list[torch.Tensor]:
    """`n` fixed batches of training images for BatchNorm re-estimation (the same for every child)."""
    loader = DataLoader(data, batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return [training.to_device(x, device) for x, _ in (batch for _, batch in zip(range(n), loader))]


def score(supernet: Supernet, arch: Arch, val: Dataset, batches: list[torch.Tensor]) -> dict:
    """ACC(m) from shared weights: the extracted child, its BatchNorm re-estimated, on held-out data."""
    child = recalibrate_bn(supernet.extract(arch).to(memory_format=torch.channels_last), batches)  # as training does
    return {"accuracy": training.accuracy(child, val), **training.deployment_size(arch)}


@lru_cache(maxsize=2)
def _loaded(checkpoint: str, data: training.DataSpec, device: str) -> tuple[Supernet, list[torch.Tensor], Dataset]:
    """A trained supernet, the BatchNorm calibration batches and the held-out split, once per process."""
    splits = training.load_splits(data)
    return load(Path(checkpoint), data, device), calibration_batches(splits["train"], seed=data.seed, device=device), splits["val"]


def evaluate(arch: Arch, checkpoint: str, data: training.DataSpec, device: str = "cpu", threads: int = 0) -> dict:
    """ACC(m) for the search from the shared weights: `training.proxy_train`'s counterpart, a plain
    function of picklable arguments, so it runs the same inline, in a process pool or on Dask."""
    if threads:
        torch.set_num_threads(threads)
    net, batches, val = _loaded(checkpoint, data, device)
    return score(net, arch, val, batches)


# The supernet's training: the proxy's optimizer with the final recipe's guards, 2,000 steps of 64.
TRAIN = training.TrainConfig(steps=2000, batch_size=64, lr=0.05, label_smoothing=0.1, clip_grad_norm=5.0)


def for_data(data: training.DataSpec, dropout: float = 0.0, seed: int = 0) -> Supernet:
    """A supernet over mnas.SearchSpace shaped for a dataset (channels, classes, small-input stem), as training.make_model."""
    channels, size, classes = training.data_shape(training.load_splits(data))
    return Supernet(mnas.SearchSpace(), classes, size < 64, channels, dropout, seed)


def train_supernet(data: training.DataSpec, cfg: training.TrainConfig, checkpoint: Path, progress: bool = True) -> Supernet:
    """Train a supernet on `data` with the proxy's optimizer (one path per step, `cfg.steps` steps),
    checkpointed to `checkpoint` and resumed from it; return it."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    supernet = for_data(data, cfg.dropout, cfg.seed)
    training.train_steps(supernet, training.load_splits(data)["train"], cfg, progress, checkpoint=checkpoint)
    return supernet


def load(checkpoint: Path, data: training.DataSpec, device: str = "cpu") -> Supernet:
    """A trained supernet from its checkpoint (the model part of train_steps' file)."""
    supernet = for_data(data)
    supernet.load_state_dict(torch.load(checkpoint, weights_only=True, map_location=device)["model"])
    return supernet.to(device).eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Train a weight-sharing supernet over the MnasNet space, then score children.")
    p.add_argument("--out", default="runs/supernet.pt", help="the checkpoint: written as it trains, resumed if it exists")
    p.add_argument("--dataset", default="fashion-mnist", choices=training.DATASETS)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--steps", type=int, default=TRAIN.steps)
    p.add_argument("--batch-size", type=int, default=TRAIN.batch_size)
    p.add_argument("--lr", type=float, default=TRAIN.lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--score", type=int, default=5, help="children to score after training (random, seeded)")
    args = p.parse_args(argv)
    try:
        if args.steps < 1 or args.batch_size < 2 or args.lr <= 0:
            raise training.UsageError("--steps must be >= 1, --batch-size >= 2 and --lr > 0")
        data = training.DataSpec(args.dataset, args.data_dir, seed=args.seed)
        cfg = replace(TRAIN, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      threads=args.threads, device=training.pick_device(args.device))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        supernet = train_supernet(data, cfg, Path(args.out))
    except training.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    splits = training.load_splits(data)
    batches = calibration_batches(splits["train"], device=cfg.device)
    space, rng = mnas.SearchSpace(), random.Random(args.seed)
    for _ in range(args.score):
        arch = space.decode(space.sample(rng))
        t0 = time.time()
        got = score(supernet, arch, splits["val"], batches)
        print(f"child: accuracy {got['accuracy']:.4f}  {got['macs'] / 1e6:.0f}M MACs  scored in {time.time() - t0:.1f} s")
    print(f"supernet: {args.out} ({count_params(supernet) / 1e6:.1f}M shared parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
