"""Networks from architecture descriptions: the building blocks of MnasNet (paper Sec. 4.1, Fig. 7).

An architecture is plain data (timm's EfficientNet builder is the model for this): a stem width,
a list of seven `BlockArgs` and a head width. `build_model` turns it into a PyTorch network with
one generic builder, so the published models (MobileNetV2, MnasNet-A1/B1/small in
`REFERENCE_ARCHS`) and every network the search samples are built by the same code.

Layers (all ReLU, as in the paper's models):
  conv    kxk conv + BN + ReLU                                     ("regular conv" in Sec. 4.1)
  dconv   depthwise kxk + BN + ReLU, then pointwise 1x1 + BN       ("SepConv" in Fig. 7)
  mbconv  1x1 expand (when e > 1) + BN + ReLU, depthwise kxk + BN + ReLU,
          optional squeeze-and-excitation, linear 1x1 projection + BN  (MobileNetV2's block)
The SE squeeze width is max(1, int(layer_input_channels * se_ratio)), as in the TF reference code.

SkipOp (Sec. 4.1 lists "pooling, identity residual, no skip"; the paper does not define pooling):
  identity  y = body(x) + x, only where stride == 1 and in == out channels (MobileNetV2's rule).
  pool      y = body(x) + avgpool3x3(x, stride), where in == out channels. The shortcut is a 3x3
            average pool with the layer's stride, so unlike identity it also bridges the stride-2
            first layer of a block; it adds no parameters.
  none      y = body(x).

References: torchvision.models.mnasnet and mobilenetv2; tensorflow/tpu models/official/mnasnet;
timm's _efficientnet_builder.

Copied alone it needs torch and nothing else of this project.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

OPS = ("conv", "dconv", "mbconv")
SKIPS = ("identity", "pool", "none")


# ----------------------------------------------------------------------------- descriptions


@dataclass(frozen=True)
class BlockArgs:
    """One block: `repeats` identical layers; only the first may have stride 2 (Sec. 4.1)."""

    op: str  # ConvOp: "conv" | "dconv" | "mbconv"
    expansion: int  # MBConv expansion ratio e; 1 for conv and dconv
    kernel: int  # KernelSize
    stride: int  # stride of the first layer
    repeats: int  # Layers N_i (0 drops the block)
    out: int  # Filters F_i, output channels at width 1.0
    se_ratio: float = 0.0  # SERatio
    skip: str = "identity"  # SkipOp: "identity" | "pool" | "none"


@dataclass(frozen=True)
class Arch:
    blocks: tuple[BlockArgs, ...]
    stem: int = 32  # channels of the 3x3 stride-2 stem conv
    head: int = 1280  # channels of the final 1x1 conv (never scaled by width_mult)


def _validate_block(i: int, b: BlockArgs) -> None:
    def bad(field: str, why: str) -> ValueError:
        return ValueError(f"blocks[{i}]: field '{field}' {why}, got {getattr(b, field)!r}")

    if b.op not in OPS:
        raise bad("op", f"must be one of {', '.join(OPS)}")
    for field in ("expansion", "kernel", "stride", "repeats", "out"):
        value = getattr(b, field)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < (0 if field == "repeats" else 1)
        ):
            raise bad(field,
                      "must be a positive integer" if field != "repeats" else "must be an integer "
                      ">= 0")
    if b.op != "mbconv" and b.expansion != 1:
        raise bad("expansion", f"must be 1 for op '{b.op}'")
    if b.kernel % 2 == 0:
        raise bad("kernel", "must be odd")
    if b.stride not in (1, 2):
        raise bad("stride", "must be 1 or 2")
    if not isinstance(b.se_ratio, (int, float)) or isinstance(b.se_ratio,
                                                              bool) or not 0 <= b.se_ratio <= 1:
        raise bad("se_ratio", "must be a number in [0, 1]")
    if b.skip not in SKIPS:
        raise bad("skip", f"must be one of {', '.join(SKIPS)}")


def arch_from_dict(d: dict) -> Arch:
    """Parse and validate an architecture; errors name the block index and the field."""
    if isinstance(d, dict) and "arch" in d:  # a search result such as best.json wraps the arch
        d = d["arch"]
    if not isinstance(d, dict) or not isinstance(d.get("blocks"), list) or not d["blocks"]:
        raise ValueError("an architecture is an object with a non-empty list 'blocks'")
    names = {f.name for f in fields(BlockArgs)}
    required = {f.name for f in fields(BlockArgs) if f.default is MISSING}
    blocks = []
    for i, raw in enumerate(d["blocks"]):
        if not isinstance(raw, dict):
            raise ValueError(f"blocks[{i}]: must be an object, got {raw!r}")
        unknown, missing = set(raw) - names, required - set(raw)
        if unknown:
            raise ValueError(f"blocks[{i}]: unknown field '{sorted(unknown)[0]}'")
        if missing:
            raise ValueError(f"blocks[{i}]: missing field '{sorted(missing)[0]}'")
        block = BlockArgs(**raw)
        _validate_block(i, block)
        blocks.append(block)
    arch = Arch(tuple(blocks), stem=d.get("stem", 32), head=d.get("head", 1280))
    for field in ("stem", "head"):
        value = getattr(arch, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"field '{field}' must be a positive integer, got {value!r}")
    return arch


def replace_block(arch: Arch, i: int, **changes) -> Arch:
    """A copy of `arch` with fields of block i changed, e.g. replace_block(a, 2, kernel=5)."""
    blocks = list(arch.blocks)
    blocks[i] = replace(blocks[i], **changes)
    return replace(arch, blocks=tuple(blocks))


def one_layer_type(arch: Arch, op: str, expansion: int, kernel: int) -> Arch:
    """Sec. 7.3, Table 6: `arch` with every block's ConvOp and kernel replaced, everything else
    (filters, layers, strides, SE, skips) kept; e.g. MnasNet-A1 with MBConv3 3x3 everywhere."""
    return replace(arch, blocks=tuple(replace(b, op=op, expansion=expansion,
                                              kernel=kernel) for b in arch.blocks))


def arch_to_dict(arch: Arch) -> dict:
    return {"stem": arch.stem, "head": arch.head, "blocks": [asdict(b) for b in arch.blocks]}


def save_arch(arch: Arch, path: str | Path, **extra) -> None:
    """Write `arch` as JSON; `extra` keys (accuracy, latency...) are stored beside it."""
    Path(path).write_text(json.dumps({"arch": arch_to_dict(arch), **extra}, indent=2) + "\n")


def load_arch(name_or_path: str) -> Arch:
    """A name from REFERENCE_ARCHS or a JSON file. Raises ValueError with a one-line reason."""
    if name_or_path in REFERENCE_ARCHS:
        return REFERENCE_ARCHS[name_or_path]
    path = Path(name_or_path)
    if not path.suffix == ".json" and not path.exists():
        raise ValueError(f"unknown architecture '{name_or_path}' (choose from "
                         f"{', '.join(REFERENCE_ARCHS)} or a .json file)")
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    try:
        return arch_from_dict(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _arch(stem: int, rows: list[tuple], head: int = 1280) -> Arch:
    """Compact tables as in the paper: (op, e, k, s, n, out, se, skip) per block."""
    return Arch(tuple(BlockArgs(*row) for row in rows), stem=stem, head=head)


# The MobileNetV2 skeleton (Sandler et al. 2018, Table 2) that the search space is built on.
MOBILENETV2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                      (6, 160, 3, 2), (6, 320, 1, 1)]  # (t, c, n, s)

REFERENCE_ARCHS: dict[str, Arch] = {
    "mobilenetv2": _arch(32, [("dconv", 1, 3, 1, 1, 16, 0.0, "identity")]
                     + [("mbconv", t, 3, s, n, c, 0.0,
                         "identity") for t, c, n, s in MOBILENETV2_BLOCKS[1:]]),
    "mnasnet-a1": _arch(32, [
        ("dconv", 1, 3, 1, 1, 16, 0.0, "none"),
        ("mbconv", 6, 3, 2, 2, 24, 0.0, "identity"),
        ("mbconv", 3, 5, 2, 3, 40, 0.25, "identity"),
        ("mbconv", 6, 3, 2, 4, 80, 0.0, "identity"),
        ("mbconv", 6, 3, 1, 2, 112, 0.25, "identity"),
        ("mbconv", 6, 5, 2, 3, 160, 0.25, "identity"),
        ("mbconv", 6, 3, 1, 1, 320, 0.0, "identity"),
    ]),
    "mnasnet-b1": _arch(32, [  # torchvision's mnasnet1_0
        ("dconv", 1, 3, 1, 1, 16, 0.0, "none"),
        ("mbconv", 3, 3, 2, 3, 24, 0.0, "identity"),
        ("mbconv", 3, 5, 2, 3, 40, 0.0, "identity"),
        ("mbconv", 6, 5, 2, 3, 80, 0.0, "identity"),
        ("mbconv", 6, 3, 1, 2, 96, 0.0, "identity"),
        ("mbconv", 6, 5, 2, 4, 192, 0.0, "identity"),
        ("mbconv", 6, 3, 1, 1, 320, 0.0, "none"),
    ]),
    "mnasnet-small": _arch(8, [  # the TF reference gives its first block no skip
        ("dconv", 1, 3, 1, 1, 8, 0.0, "none"),
        ("mbconv", 3, 3, 2, 1, 16, 0.0, "identity"),
        ("mbconv", 6, 3, 2, 2, 16, 0.0, "identity"),
        ("mbconv", 6, 5, 2, 4, 32, 0.25, "identity"),
        ("mbconv", 6, 3, 1, 3, 32, 0.25, "identity"),
        ("mbconv", 6, 5, 2, 3, 88, 0.25, "identity"),
        ("mbconv", 6, 3, 1, 1, 144, 0.0, "identity"),
    ]),
}
DEFAULT_DROPOUT = {"mnasnet-small": 0.0}  # all others use 0.2 before the classifier


# ----------------------------------------------------------------------------- layer specs


def round_channels(channels: float, width_mult: float = 1.0, divisor: int = 8) -> int:
    """Width multiplier as in TF/torchvision: a multiple of `divisor`, never below 90% of the
    unrounded value. At width 1.0 a description is built exactly as written (the search space's
    0.75x and 1.25x filters are not all multiples of 8)."""
    if width_mult == 1.0:
        return int(channels)
    value = channels * width_mult
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class LayerSpec:
    """One concrete layer: everything that determines its modules, its cost and its latency."""

    op: str
    cin: int
    cout: int
    kernel: int
    stride: int
    expansion: int
    se_ratio: float
    skip: str


def output_size(size: int, stride: int) -> int:
    """The feature map's side after a conv with this stride and 'same' padding: ceil(size /
    stride)."""
    return -(-size // stride)


def block_layer_specs(arch: Arch, width_mult: float = 1.0) -> list[list[LayerSpec]]:
    """Expand each block into its layers: the first takes the block's stride, the rest stride 1."""
    cin = round_channels(arch.stem, width_mult)
    specs = []
    for b in arch.blocks:
        cout = round_channels(b.out, width_mult)
        layers = []
        for j in range(b.repeats):
            layers.append(LayerSpec(b.op, cin, cout, b.kernel, b.stride if j == 0 else 1,
                                    b.expansion, b.se_ratio, b.skip))
            cin = cout
        specs.append(layers)
    return specs


def effective_skip(s: LayerSpec) -> str:
    """The SkipOp a layer really gets: identity needs the same channels and stride 1, pooling the
    same channels; otherwise there is nothing to add the body's output to."""
    same_channels = s.cin == s.cout
    if s.skip == "identity" and same_channels and s.stride == 1:
        return "identity"
    return "pool" if s.skip == "pool" and same_channels else "none"


def network_key(arch: Arch) -> tuple:
    """What the built network depends on. Distinct descriptions can build the same network (a
    block of depth 0 has no layers for its ConvOp or filters to shape; an identity skip across a
    change of channels adds nothing): they have the same key."""
    layers = [
        replace(s, skip=effective_skip(s)) for block in block_layer_specs(arch) for s in block
    ]
    return arch.stem, arch.head, tuple(layers)


# ----------------------------------------------------------------------------- modules


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
            relu: bool = True) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ ReLU); 'same' padding for odd kernels."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): a per-channel sigmoid gate from globally pooled
    features."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(s))))


class Layer(nn.Module):
    """One layer of a block: the ConvOp body, optional SE, and the SkipOp shortcut."""

    def __init__(self, s: LayerSpec):
        super().__init__()
        # channels of the kxk conv
        mid = {"conv": s.cout, "dconv": s.cin}.get(s.op, s.cin * s.expansion)
        se = [SqueezeExcite(mid, max(1, int(s.cin * s.se_ratio)))] if s.se_ratio > 0 else []
        if s.op == "conv":
            body = [conv_bn(s.cin, mid, s.kernel, s.stride)] + se
        else:  # dconv is an MBConv without the expansion
            expand = [conv_bn(s.cin, mid)] if mid != s.cin else []
            body = expand + [conv_bn(mid, mid, s.kernel, s.stride,
                                     groups=mid)] + se + [conv_bn(mid, s.cout, relu=False)]
        self.body = nn.Sequential(*body)
        skip = effective_skip(s)
        self.shortcut = (nn.Identity() if skip == "identity" else
                         nn.AvgPool2d(3, s.stride, padding=1,
                                      count_include_pad=False) if skip == "pool" else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y if self.shortcut is None else y + self.shortcut(x)


def init_weights(model: nn.Module) -> None:
    """Initialize every conv, BatchNorm and linear layer as torchvision's MNASNet does, but the
    classifier."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            # torchvision's MNASNet draws the classifier with bounds sqrt(3 / num_classes): 0.05
            # for ImageNet, but 0.55 for 10 classes, where the first logits are ~10x too large
            # (a first loss of 9 instead of ln 10 = 2.3). Its MobileNetV2 does not depend on
            # the class count: N(0, 0.01).
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class MnasNet(nn.Module):
    """stem -> 7 blocks of layers -> head 1x1 conv -> global average pool -> dropout -> FC."""

    def __init__(self, arch: Arch, num_classes: int = 1000, width_mult: float = 1.0,
                 small_input: bool = False,
                 dropout: float = 0.2, in_channels: int = 3):
        super().__init__()
        self.arch = arch
        specs = block_layer_specs(arch, width_mult)
        stem = round_channels(arch.stem, width_mult)
        last = next((layers[-1].cout for layers in reversed(specs) if layers), stem)
        # small_input: 28-32 px proxy images. Only the stem's stride changes (2 -> 1), so the
        # network
        # downsamples 16x instead of 32x: a 32 px image ends in a 2x2 map, as 224 px ends in 7x7.
        # Stride 1 in block 2 as well (8x, a 4x4 map) trains about 2x slower on a 2-core CPU.
        self.stem = conv_bn(in_channels, stem, 3, 1 if small_input else 2)
        self.blocks = nn.Sequential(
            *(nn.Sequential(*(Layer(s) for s in layers)) for layers in specs)
        )
        self.head = conv_bn(last, arch.head)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(arch.head, num_classes))
        init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))  # (B, head, H/32, W/32); H/16 with small_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))  # (B, num_classes)


def build_model(arch: Arch | str, num_classes: int = 1000, width_mult: float = 1.0,
                small_input: bool = False,
                dropout: float | None = None, in_channels: int = 3) -> MnasNet:
    """Build a network from an `Arch` or a REFERENCE_ARCHS name (dropout defaults to 0.2, 0 for
    mnasnet-small)."""
    if isinstance(arch, str):
        dropout = DEFAULT_DROPOUT.get(arch, 0.2) if dropout is None else dropout
        arch = REFERENCE_ARCHS[arch]
    return MnasNet(arch, num_classes, width_mult, small_input, 0.2 if dropout is None else dropout,
                   in_channels)


# ----------------------------------------------------------------------------- a network as a
# latency table keys it

REFERENCE = "mobilenetv2"  # the network latencies are relative to, and the search's default target


def layer_key(s: LayerSpec, res: int) -> str:
    """A layer's identity for latency. The skip is the shortcut the layer really gets, so
    descriptions that build the same module (an identity skip where channels change adds nothing)
    share one entry."""
    skip = effective_skip(s)
    return (f"{s.op} e{s.expansion} k{s.kernel} s{s.stride} se{s.se_ratio:g} {skip} "
            f"{s.cin}->{s.cout} @{res}")


def arch_entries(arch: Arch, input_size: int = 224,
                 num_classes: int = 1000) -> list[tuple[str, object, int]]:
    """The deployment network's pieces in order, repeats included: (table key, what it is, input
    resolution). What it is: a LayerSpec, ("stem", channels) or ("head", cin, head, classes)."""
    res, last = output_size(input_size, 2), arch.stem
    out = [(f"stem 3->{arch.stem} k3 s2 @{input_size}", ("stem", arch.stem), input_size)]
    for layers in block_layer_specs(arch):
        for s in layers:
            out.append((layer_key(s, res), s, res))
            res, last = output_size(res, s.stride), s.cout
    head = (f"head {last}->{arch.head} fc{num_classes} @{res}",
            ("head", last, arch.head, num_classes))
    return out + [(*head, res)]


def space_entries(block_options: list[list[BlockArgs]], input_size: int = 224, stem: int = 32,
                  head: int = 1280, num_classes: int = 1000) -> dict[str, tuple[object, int]]:
    """Every distinct layer a factorized space (Sec. 4.1) can produce, plus stem and heads: key ->
    (what, input resolution). A block's input channels come from the nearest earlier block that is
    not empty (repeats may be 0) or from the stem; its layers after the first are all alike, so
    two suffice."""
    pieces = arch_entries(Arch((), stem, head), input_size, num_classes)[:1]  # the stem
    cins, res = {stem}, output_size(input_size, 2)
    for i, options in enumerate(block_options):
        strides = {b.stride for b in options}
        if len(strides) != 1:
            raise ValueError(f"block {i}: every option must have the same stride, got "
                             f"{sorted(strides)}")
        for b in (b for b in options if b.repeats):
            for cin in sorted(cins):  # a one-block network whose stem gives cin channels at res
                one = Arch((replace(b, repeats=min(b.repeats, 2)),), cin, head)
                pieces += arch_entries(one, 2 * res, num_classes)[1:-1]
        cins = (cins if any(b.repeats == 0 for b in options) else set()) | {
            b.out for b in options if b.repeats
        }
        res = output_size(res, strides.pop())
    for cin in sorted(cins):
        pieces += arch_entries(Arch((), cin, head), 2 * res, num_classes)[-1:]  # the heads
    return {key: (what, r) for key, what, r in pieces}


def entry_module(entry: tuple[object, int]) -> tuple[nn.Module, torch.Tensor]:
    """A table entry (what, input resolution) as the module timed alone and its example input.
    A head is models.MnasNet's (1x1 conv + BN + ReLU, pool, dropout, FC) without stem or blocks,
    so the same code builds it as every network."""
    what, res = entry
    if isinstance(what, LayerSpec):
        return Layer(what), torch.randn(1, what.cin, res, res)
    if what[0] == "stem":
        return conv_bn(3, what[1], 3, 2), torch.randn(1, 3, res, res)
    _, cin, head, num_classes = what
    tail = MnasNet(Arch((), cin, head), num_classes)
    tail.stem = nn.Identity()
    return tail, torch.randn(1, cin, res, res)


# ----------------------------------------------------------------------------- counting


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs_by_module(model: nn.Module, input_size: int = 224,
                         in_channels: int = 3) -> dict[str, int]:
    """Multiply-adds of one image, counted by torch.utils.flop_counter (MACs = FLOPs / 2):
    {"Global": the total, module name: its MACs} for the model and every submodule."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, in_channels, input_size, input_size))
    model.train(was_training)
    return {name: sum(c.values()) // 2 for name, c in counter.get_flop_counts().items()}


def count_macs(model: nn.Module, input_size: int = 224, in_channels: int = 3) -> int:
    """Multiply-adds of one image (the paper's "FLOPs" are multiply-adds)."""
    return count_macs_by_module(model, input_size, in_channels)["Global"]


# ----------------------------------------------------------------------------- command line


def describe(arch: Arch, width_mult: float = 1.0, input_size: int = 224,
             num_classes: int = 1000) -> str:
    """A per-block table (op, e, k, s, n, out, SE, skip, output resolution, params, MACs) and
    totals."""
    model = build_model(arch, num_classes, width_mult)
    per_module = count_macs_by_module(model, input_size)
    macs = per_module["Global"]
    prefix = next(k for k in per_module if k != "Global").split(".")[0]  # the root module's name
    rows = [f"{'block':<6}{'op':<8}{'e':>2}{'k':>3}{'s':>3}{'n':>3}{'out':>6}{'SE':>6}  "
            f"{'skip':<9}{'res':>5}{'params':>11}{'MACs':>14}"]
    res = output_size(input_size, 2)  # the stem
    stem, stem_macs = round_channels(arch.stem, width_mult), per_module.get(prefix + ".stem", 0)
    rows.append(f"{'stem':<6}{'conv':<8}{'':>2}{3:>3}{2:>3}{1:>3}{stem:>6}{'':>6}  {'':<9}"
                f"{res:>5}{count_params(model.stem):>11,}{stem_macs:>14,}")
    for i, (b, block) in enumerate(zip(arch.blocks, model.blocks)):
        res = output_size(res, b.stride) if b.repeats else res
        out = round_channels(b.out, width_mult)
        block_macs = per_module.get(f"{prefix}.blocks.{i}", 0)
        rows.append(f"{i + 1:<6}{b.op:<8}{b.expansion:>2}{b.kernel:>3}{b.stride:>3}{b.repeats:>3}"
                    f"{out:>6}{b.se_ratio:>6g}  {b.skip:<9}{res:>5}{count_params(block):>11,}"
                    f"{block_macs:>14,}")
    head_macs = per_module.get(prefix + ".head", 0) + per_module.get(prefix + ".classifier", 0)
    head_params = count_params(model.head) + count_params(model.classifier)
    rows.append(f"{'head':<6}{'conv+fc':<8}{'':>2}{1:>3}{1:>3}{1:>3}{arch.head:>6}{'':>6}  "
                f"{'':<9}{1:>5}{head_params:>11,}{head_macs:>14,}")
    rows.append(f"params={count_params(model)} macs={macs}")
    return "\n".join(rows)


class _Parser(argparse.ArgumentParser):
    # one line, exit status 2: cli.Parser, kept here so models.py needs nothing of ours
    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    p = _Parser(description="Print a network's per-block table, parameters and multiply-adds.")
    p.add_argument("arch", metavar="NAME_OR_JSON",
                   help=f"one of {', '.join(REFERENCE_ARCHS)}, or an architecture .json file")
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--num-classes", type=int, default=1000)
    args = p.parse_args(argv)
    try:
        if args.width_mult <= 0 or args.input_size < 8 or args.num_classes < 1:
            raise ValueError("--width-mult must be > 0, --input-size >= 8 and --num-classes >= 1")
        arch = load_arch(args.arch)
        print(describe(arch, args.width_mult, args.input_size, args.num_classes))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
