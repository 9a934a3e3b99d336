"""Deployment: a trained network as an ExecuTorch program for XNNPACK, fp32 or int8, and checked
as it will run (where MnasNet's path ends: the network on the phone it was searched for, Sec. 1, 5).

    python train.py --arch mnasnet-a1 --epochs 1 --export int8     # trains, then `export`

`export` lowers the trained network to `model.pte` (torch.export, then ExecuTorch's XNNPACK
partitioner: `latency.lower_xnnpack`). For int8 the network is first quantized after training by
the PT2E flow (`latency.quantize_int8`: int8 weights per output channel, int8 activations per
tensor), its activation ranges observed on training images (`calibration_images`), never on
test images. Then the .pte itself is checked:

  accuracy  every test image through ExecuTorch's runtime (`pte_accuracy`), beside the float
            network's accuracy;
  latency   through the same runtime, batch 1, one thread, round-robin with MobileNetV2 built
            for the same input and classes and exported the same way (`latency.measure_programs`):
            in ms, and as a ratio, which survives this machine's drift.

An operator XNNPACK does not take stays outside its delegate and runs on ExecuTorch's portable
kernels: slowly, or not at all on a runtime built with XNNPACK alone. `lower` refuses such a
network in one line naming the layer, except for the cheap operators in PORTABLE_OK (the global
average pool before the classifier is one). int8 speed depends on the host CPU's instructions
(AVX-512, VNNI, AVX-VNNI: `cpu_features`); every timing of int8 should say which it had.

Copied alone it needs latency.py, models.py and training.py (and their cli.py and runner.py).
"""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

import latency
from models import REFERENCE, REFERENCE_ARCHS
from training import make_model

CALIBRATION = 128  # training images whose activations set the int8 ranges
PRECISIONS = ("fp32", "int8")
# Operators left outside XNNPACK that cost next to nothing on ExecuTorch's portable kernels
PORTABLE_OK = {"aten.mean.dim", "aten.view_copy.default", "aten.squeeze_copy.dims",
               "aten.unsqueeze_copy.default", "aten.clone.default",
               "dim_order_ops._clone_dim_order.default", "dim_order_ops._to_dim_order_copy.default"}


class ExportError(ValueError):
    """A network that cannot be exported as asked: one line, naming the layer (a ValueError: the
    commands print it as one line and exit with status 2)."""


@dataclass
class Exported:
    """A .pte checked as it runs: its test accuracy through ExecuTorch's runtime, its latency and
    MobileNetV2's (exported the same way) timed round-robin."""

    path: Path
    precision: str
    accuracy: float
    latency: latency.Measurement
    reference: latency.Measurement
    input_size: int

    @property
    def ratio(self) -> float:
        return latency.ratio(self.latency, self.reference)


def cpu_features(cpuinfo: str | None = None) -> str:
    """The instructions that decide XNNPACK's int8 speed on this CPU: AVX-512, VNNI (AVX-512's)
    and AVX-VNNI, as /proc/cpuinfo lists them ("none of AVX-512, VNNI, AVX-VNNI" without)."""
    if cpuinfo is None:
        info = Path("/proc/cpuinfo")
        cpuinfo = info.read_text() if info.exists() else ""
    flags = re.search(r"^flags\s*:(.*)$", cpuinfo, flags=re.M)
    flags = set(flags[1].split()) if flags else set()
    names = {"avx512f": "AVX-512", "avx512_vnni": "VNNI", "avx_vnni": "AVX-VNNI"}
    return ", ".join(name for flag, name in names.items() if flag in flags) or \
        "none of AVX-512, VNNI, AVX-VNNI"


def calibration_images(train: Dataset, n: int = CALIBRATION, seed: int = 0) -> list[torch.Tensor]:
    """n training images drawn at random (seeded), each a batch of one: int8's activation ranges
    are observed on them. Pass the training split: test images must not shape the program."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    return [train[i][0][None] for i in order.tolist()]


@contextmanager
def _layers_running(model: nn.Module):
    """The names of the layers whose forward has begun and not ended, innermost last: after an
    exception in tracing, the last is the layer that raised it."""
    names, running, hooks = {m: name for name, m in model.named_modules() if name}, [], []

    def enter(module, args):
        running.append(f"'{names[module]}' ({type(module).__name__})")

    def leave(module, args, out):
        running.pop()
    for module in names:
        hooks += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield running
    finally:
        for hook in hooks:
            hook.remove()


def _op(target) -> str:
    """An edge operator's name, "aten.cumsum.default"."""
    found = re.match(r"<EdgeOpOverload: ([\w.]+)>", str(target))
    return found[1] if found else str(getattr(target, "__name__", target))


def not_delegated(program) -> list[str]:
    """"layer 'x' (Type): op" for each operator of an edge program left outside XNNPACK's delegate,
    other than PORTABLE_OK's."""
    left = []
    for node in program.exported_program().graph.nodes:
        op = _op(node.target)
        if node.op != "call_function" or "call_delegate" in op or op in {"getitem", *PORTABLE_OK}:
            continue
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        path, kind = stack[-1] if stack else ("", "")
        left.append(f"layer '{path}' ({kind.rsplit('.', 1)[-1]}): {op}" if path else f"{op}")
    return left


def _reason(e: Exception) -> str:
    """An exception in one line: its type and its message's first line, "RuntimeError: ..."."""
    return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:160]}"


@contextmanager
def _failing_as(what: str):
    """Anything ExecuTorch raises inside, as one ExportError line: "<what> (<reason>)"."""
    try:
        yield
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"{what} ({_reason(e)})") from None


def lower(model: nn.Module, x: torch.Tensor, int8: bool = False,
          calibration: list[torch.Tensor] | None = None) -> bytes:
    """The network, in eval mode on the CPU, as an XNNPACK-delegated .pte program (its bytes);
    with `int8`, quantized first, calibrated on `calibration` (training images). An ExportError
    names the layer that failed, or the first operator XNNPACK does not take."""
    model = model.eval().cpu().to(memory_format=torch.contiguous_format)
    with _layers_running(model) as running:
        try:
            if int8:
                model = latency.quantize_int8(model, x, calibration or [])
            program = latency.lower_xnnpack(model, x)
        except Exception as e:  # anything torch.export or ExecuTorch raises: one line, the layer
            where = f"layer {running[-1]}" if running else "the network"
            raise ExportError(f"{where} cannot be exported to ExecuTorch ({_reason(e)})") from None
    left = not_delegated(program)
    if left:
        raise ExportError(f"{left[0]} is not supported by XNNPACK, so it would run outside it"
                          + (f" (and {len(left) - 1} more)" if len(left) > 1 else ""))
    with _failing_as("ExecuTorch cannot write the program as a .pte"):  # not a layer's fault
        return program.to_executorch().buffer


def pte_accuracy(path: Path, data: Dataset, progress: bool = False) -> float:
    """Top-1 accuracy of a .pte on `data`, every image run through ExecuTorch's runtime, batch 1."""
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(Path(path))
    method = program.load_method("forward")
    correct = 0
    for i in tqdm(range(len(data)), desc="test (.pte)", unit="img", disable=not progress,
                  mininterval=2):
        x, y = data[i]
        correct += int(method.execute((x[None].contiguous(),))[0].argmax(1).item() == int(y))
    return correct / len(data)


def export(model: nn.Module, splits: dict[str, Dataset], path: Path, precision: str = "fp32",
           calibration: int = CALIBRATION, seed: int = 0, rounds: int = 50,
           progress: bool = False) -> Exported:
    """Write `model` (trained on `splits`) to `path` as a .pte in `precision`, run it on the test
    set and time it against MobileNetV2 (width 1) built for the same data, exported the same way
    (int8: calibrated on the same training images). Each failure is an ExportError in one line
    naming what failed; MobileNetV2's begin "MobileNetV2 (the reference): "."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}' (choose from {', '.join(PRECISIONS)})")
    int8 = precision == "int8"
    x = splits["train"][0][0][None].contiguous()  # torch.export's example input (its shape)
    images = calibration_images(splits["train"], calibration, seed) if int8 else None
    path.write_bytes(lower(model, x, int8, images))
    with _failing_as(f"ExecuTorch's runtime cannot run {path}"):
        accuracy = pte_accuracy(path, splits["test"], progress)
    reference = make_model(REFERENCE_ARCHS[REFERENCE], splits)
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        ref = Path(tmp) / f"{REFERENCE}.pte"
        try:
            ref.write_bytes(lower(reference, x, int8, images))
        except ExportError as e:  # not the user's network: say whose layer it is
            raise ExportError(f"MobileNetV2 (the reference): {e}") from None
        with _failing_as(f"ExecuTorch's runtime cannot time {path} against MobileNetV2"):
            timed = latency.measure_programs({"model": path, "reference": ref}, x, rounds=rounds)
    return Exported(path, precision, accuracy, timed["model"], timed["reference"], x.shape[-1])


def export_trained(model: nn.Module, splits: dict[str, Dataset], out: Path, precision: str,
                   float_accuracy: float) -> str:
    """`train.py --arch ... --export`: out/model.pte written and checked (`export`), and the line
    the command ends with. Its ExportError says that the float model (out/model.pt) is kept."""
    try:
        got = export(model, splits, out / "model.pte", precision, progress=True)
    except ExportError as e:
        raise ExportError(f"{e}; the float model is kept: {out / 'model.pt'}") from None
    return summary(got, float_accuracy)


def summary(got: Exported, float_accuracy: float) -> str:
    """The line `train.py --arch ... --export` ends with."""
    p = got.precision
    relative = f"{got.ratio:.2f}x MobileNetV2 in {p}"
    return (f"float_accuracy={float_accuracy:.4f} {p}_accuracy={got.accuracy:.4f} "
            f"{p}_latency_ms={got.latency.median_ms:.3f} ({relative}; ExecuTorch/XNNPACK, "
            f"{got.input_size} px, 1 thread, {cpu_features()})  (program: {got.path})")
