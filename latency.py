"""Latency on the target platform: the LAT(m) of MnasNet's reward (paper Sec. 1, 3, 5).

MnasNet's key idea is to measure a model's real latency on the phone it will run on instead of
using FLOPs as a proxy (Sec. 1, 5): single-thread big core of a Pixel 1, batch 1, 224x224
(Sec. 4.2). This module times any `nn.Module` four ways:

  cpu              PyTorch eager on this machine (eval, inference mode, batch 1, a set thread
                   count).
  executorch       torch.export + ExecuTorch's XNNPACK partitioner -> a .pte run by ExecuTorch's
                   Python runtime here: the same runtime and kernels a phone uses.
  executorch-int8  the same, quantized to int8 first (`quantize_int8`; the caller passes the
                   calibration images, N(0, 1) draws without them).
  adb              the same .pte pushed to an Android phone and timed by ExecuTorch's
                   executor_runner there.

`measure` times one network, `measure_interleaved` several round-robin (use it for every
comparison: the machine's speed drifts), `ratio` divides two of them round by round.
`time_jobs` is the same for (module, input) pairs of any shape: a latency table
(latency_table.py) times single layers with it. `keep_freed_memory` is the one process-wide
setting, and only a program that asks for it gets it. docs/latency.md says why each choice was
made (thread CPU time, medians, interleaving, the allocator).

Copied alone it needs torch and numpy (executorch for those backends); its command line
(`python latency.py NAME`) also needs cli.py and models.py, to build NAME.

References: Tan et al., MnasNet, CVPR 2019; Wu et al., FBNet, CVPR 2019; Cai et al., ProxylessNAS,
ICLR 2019; Zhang et al., nn-Meter, MobiSys 2021; ExecuTorch (pytorch.org/executorch).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import linecache
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BACKENDS = ("cpu", "executorch", "executorch-int8", "adb")
EXECUTORCH = ("executorch", "executorch-int8")  # run here by ExecuTorch's Python runtime
# adb: each round is one runner call of num_executions runs
DEFAULT_ROUNDS = {"cpu": 50, "executorch": 50, "executorch-int8": 50, "adb": 3}
CALIBRATION_IMAGES = 16  # int8: images whose activations set the quantization ranges


class LatencyError(RuntimeError):
    """A measurement that cannot be made (no phone, no runner, unreadable output): a one-line
    reason."""


# ----------------------------------------------------------------------------- measurements


@dataclass
class Measurement:
    median_ms: float
    iqr_ms: float  # interquartile range, q75 - q25
    # per-run ms: one per timed block (cpu, executorch) or iteration (adb)
    samples: list[float] = field(repr=False)

    @classmethod
    def of(cls, samples: list[float]) -> Measurement:
        q25, q50, q75 = np.percentile(samples, [25, 50, 75])
        return cls(float(q50), float(q75 - q25), list(samples))


Sampler = Callable[[], list[float]]  # runs one timed block, returns per-run ms


def _block_sampler(fn: Callable[[], object], threads: int, block_ms: float = 1.0,
                   warmup: int = 3) -> Sampler:
    """Time `fn` in blocks of `number` calls lasting at least `block_ms` (tiny layers need several
    calls to be well above the clock's overhead). Uses the standard library's timeit, which also
    turns the garbage collector off while timing. torch.utils.benchmark.Timer was the first choice,
    but its timeit() re-runs a warm-up before every block (tripling the cost of a whole-network
    sample) and blocked_autorange() times one statement at a time, which rules out interleaving."""
    clock = time.thread_time if threads == 1 else time.perf_counter  # see the module docstring
    timer = timeit.Timer(fn, timer=clock)
    timer.timeit(warmup)  # first calls allocate buffers, pack weights (XNNPACK), warm caches
    one = min(timer.timeit(1) for _ in range(3)) * 1e3
    number = max(1, math.ceil(block_ms / max(one, 1e-3)))
    return lambda: [timer.timeit(number) * 1e3 / number]


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory in the process instead of returning it to the OS, so that a
    forward pass does not page-fault its activations in afresh (a phone runtime plans one arena up
    front; docs/latency.md, "Freed memory"). Opt-in: it is process-wide and one-way (it turns off
    glibc's adaptive thresholds), so the programs that time networks call it once at their start.
    It changes speed only. A no-op where the C library has no mallopt."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        # M_MMAP_THRESHOLD: blocks up to 32 MiB (glibc's maximum) from the heap
        mallopt(-3, 32 << 20)
        mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap, do not trim it


@contextmanager
def thread_count(backend: str, threads: int):
    """Set the intra-op thread count of PyTorch (and ExecuTorch's thread pool) for the measurements
    inside, and restore it afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    pool = None
    if backend in EXECUTORCH:
        from executorch.extension.pybindings import portable_lib

        pool_before = portable_lib._threadpool_get_thread_count()
        if pool_before != threads:  # a reset logs a line; a table's chunks would log two each
            pool = portable_lib
            pool._unsafe_reset_threadpool(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if pool is not None:
            pool._unsafe_reset_threadpool(pool_before)


def _cpu_sampler(model: nn.Module, x: torch.Tensor, threads: int, block_ms: float = 1.0) -> Sampler:
    with torch.inference_mode():  # for the warm-up; _interleave samples in inference mode
        return _block_sampler(lambda: model(x), threads, block_ms)


def lower_xnnpack(model: nn.Module, x: torch.Tensor):
    """torch.export -> ExecuTorch edge dialect, XNNPACK-delegated: the edge program (its graph
    shows what XNNPACK did not take; `.to_executorch().buffer` is the .pte)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    return to_edge_transform_and_lower(torch.export.export(model, (x,)),
                                       partitioner=[XnnpackPartitioner()])


def export_pte(model: nn.Module, x: torch.Tensor, path: Path) -> Path:
    """torch.export -> ExecuTorch edge dialect, XNNPACK-delegated -> a .pte program file."""
    path.write_bytes(lower_xnnpack(model, x).to_executorch().buffer)
    return path


def check_outputs(got: torch.Tensor, want: torch.Tensor, name: str,
                  reference: str = "eager PyTorch", rtol: float = 1e-3) -> None:
    """The exported program must compute what `reference` computes (up to rounding), relative to
    the output's scale."""
    err = (got - want).abs().max().item() if got.shape == want.shape else math.inf
    tol = rtol * max(1.0, want.abs().max().item())
    if not err <= tol:
        raise LatencyError(f"ExecuTorch output of {name} differs from {reference} by {err:.3g} "
                           f"(tolerance {tol:.3g})")


# XNNPACK's int8 kernels round differently from PyTorch's reference quantized operators: their
# outputs differ by a few steps of the output's int8 scale (1/127 of its range). Measured on a
# network trained on Fashion-MNIST: 1.5% of the largest logit.
INT8_RTOL = 0.05


def calibration_inputs(x: torch.Tensor, images: torch.Tensor | None = None,
                       n: int = CALIBRATION_IMAGES) -> list[torch.Tensor]:
    """n inputs shaped like `x` (batch 1) whose activations set an int8 network's ranges. An image
    input (1 or 3 channels) gets the caller's `images` (N x 1 or 3 x H x W, normalized as for
    training; training.calibration_images gives Fashion-MNIST's), resized to x's size, a grey
    channel repeated for RGB; any other input (a table's single layer), or no images, gets
    N(0, 1) draws (seeded): the kernels, and so the timing, are the same whatever the ranges."""
    if images is None or x.shape[1] not in (1, 3):
        g = torch.Generator().manual_seed(0)
        return [torch.randn(x.shape, generator=g) for _ in range(n)]
    images = F.interpolate(images[:n], size=tuple(x.shape[-2:]), mode="bilinear",
                           align_corners=False)
    return list(images.expand(-1, x.shape[1], -1, -1).contiguous().split(1))


def quantize_int8(model: nn.Module, x: torch.Tensor, calibration: list[torch.Tensor]) -> nn.Module:
    """Post-training int8 quantization with ExecuTorch's XNNPACK quantizer (the PT2E flow): export
    the float network, insert observers where XNNPACK has int8 operators, run the calibration
    inputs (batch 1, like `x`) to record every activation's range, then turn the observers into
    quantize/dequantize pairs, which lowering fuses into XNNPACK's int8 operators. Weights are
    int8 symmetric per output channel, activations int8 per tensor. Returns the quantized network
    as a PyTorch module: `export_pte` lowers it, and its program is checked against it."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if not calibration:
        raise ValueError("int8 quantization needs calibration inputs to observe activation ranges")
    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer().set_global(config)
    # prepare_pt2e folds each BatchNorm into its convolution before annotating, so the quantizer's
    # conv+BN patterns (for quantization-aware training) never match here; tracing them costs about
    # 2 s per network. Without them the quantized program is the same (code and outputs: a test).
    quantizer.SUPPORTED_PATTERNS = [p for p in XNNPACKQuantizer.SUPPORTED_PATTERNS if not p.is_qat]
    observed = prepare_pt2e(torch.export.export(model, (x,)).module(), quantizer)
    with torch.no_grad():
        for batch in calibration:
            observed(batch)
    return convert_pt2e(observed)


def _executorch_sampler(model: nn.Module, x: torch.Tensor, threads: int, workdir: Path, name: str,
                        block_ms: float = 1.0, int8: bool = False,
                        images: torch.Tensor | None = None) -> Sampler:
    """Export `model` to a .pte in `workdir` (int8: quantized first), check its output once, and
    time its forward pass."""
    from executorch.runtime import Runtime

    reference, rtol = "eager PyTorch", 1e-3
    if int8:  # checked against the quantized network: the float one computes other roundings
        model = quantize_int8(model, x, calibration_inputs(x, images))
        reference, rtol = "its int8 PyTorch module", INT8_RTOL
    program = Runtime.get().load_program(export_pte(model, x, workdir / f"{name}.pte"))
    method = program.load_method("forward")
    with torch.inference_mode():
        check_outputs(method.execute((x,))[0], model(x), name, reference, rtol)  # once per model

    def run():
        return method.execute((x,))
    run.program = program  # a method must not outlive its program
    return _block_sampler(run, threads, block_ms)


# ----------------------------------------------------------------------------- adb: a real phone

_ITERATION = re.compile(r"Iteration (\d+) of (\d+): ([0-9.]+) ms")
_TOTAL = re.compile(r"Model executed successfully (\d+) time\(s\) in ([0-9.]+) ms")


def parse_runner_output(text: str) -> list[float] | None:
    """executor_runner's per-run lines `Iteration i of N: X ms` (the first dropped: it packs weights
    and warms caches), else the mean from `Model executed successfully N time(s) in X ms`; None if
    neither."""
    runs = [float(m[3]) for m in _ITERATION.finditer(text)]
    if runs:
        return runs[1:] or runs
    total = _TOTAL.search(text)
    return [float(total[2]) / max(1, int(total[1]))] if total else None


def _last_lines(text: str, n: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:]) or "(no output)"


def _adb(args: list[str], serial: str | None = None, timeout: float = 600) -> str:
    cmd = ["adb"] + (["-s", serial] if serial else []) + args
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise LatencyError("adb not found on PATH (install Android platform-tools)") from None
    except subprocess.TimeoutExpired:
        raise LatencyError(f"'{' '.join(cmd)}' timed out after {timeout:.0f} s") from None
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise LatencyError(f"'{' '.join(cmd)}' failed: {_last_lines(out)}")
    return out


def adb_device(serial: str | None = None) -> str:
    """The serial of the one phone to use; a one-line LatencyError for every way that can fail."""
    states = dict(
        line.split()[:2] for line in _adb(["devices"]).splitlines()[1:] if len(line.split()) >= 2
    )
    if serial is None:
        if not states:
            raise LatencyError("no Android device found by 'adb devices' (connect a phone with "
                               "USB debugging on)")
        if len(states) > 1:
            raise LatencyError(f"several devices connected ({', '.join(states)}): choose one with "
                               "--serial")
        serial = next(iter(states))
    if serial not in states:
        raise LatencyError(f"device {serial} not found by 'adb devices' (found: "
                           f"{', '.join(states) or 'none'})")
    if states[serial] != "device":
        hint = (
            ": accept the USB debugging prompt on the phone"
            if states[serial] == "unauthorized"
            else ""
        )
        raise LatencyError(f"device {serial} is {states[serial]}{hint}")
    return serial


def _adb_sampler(model: nn.Module, x: torch.Tensor, threads: int, workdir: Path, name: str,
                 serial: str | None = None,
                 device_dir: str = "/data/local/tmp/mnasnet",
                 runner: str = "/data/local/tmp/executor_runner",
                 taskset: str | None = None, num_executions: int = 10) -> Sampler:
    serial = adb_device(serial)
    if "runner-ok" not in _adb(["shell", f"test -x {shlex.quote(runner)} && echo runner-ok"],
                               serial):
        raise LatencyError(f"executor_runner not found at {runner} on {serial} (build it and adb "
                           "push it there, see README)")
    pte = f"{device_dir.rstrip('/')}/{name}.pte"
    _adb(["shell", f"mkdir -p {shlex.quote(device_dir)}"], serial)
    _adb(["push", str(export_pte(model, x, workdir / f"{name}.pte")), pte], serial)
    command = (["taskset", taskset] if taskset else []) + [runner, "--model_path", pte,
                                                           "--num_executions",
                                                           str(num_executions), "--cpu_threads",
                                                           str(threads)]

    def sample() -> list[float]:
        # a runner built for Android logs to logcat, not to its stdout
        _adb(["logcat", "-c"], serial)
        out = _adb(["shell", shlex.join(command)], serial)
        runs = parse_runner_output(out)
        if runs is None:
            runs = parse_runner_output(_adb(["logcat", "-d", "-s", "ExecuTorch:I"], serial))
        if runs is None:
            raise LatencyError(f"cannot parse executor_runner output on {serial}: "
                               f"{_last_lines(out)}")
        return runs
    return sample


# ----------------------------------------------------------------------------- measuring


def make_sampler(backend: str, model: nn.Module, x: torch.Tensor, threads: int, workdir: Path,
                 name: str, **opts) -> Sampler:
    """A function taking one sample of `model` on `backend` (exported to `workdir` first, for the
    ExecuTorch backends and adb); `opts` are the backend's own (`platform_opts`)."""
    if backend == "cpu":
        return _cpu_sampler(model, x, threads, **opts)
    elif backend == "executorch":
        return _executorch_sampler(model, x, threads, workdir, name, **opts)
    elif backend == "executorch-int8":
        return _executorch_sampler(model, x, threads, workdir, name, int8=True, **opts)
    elif backend == "adb":
        return _adb_sampler(model, x, threads, workdir, name, **opts)
    raise ValueError(f"unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")


def _interleave(samplers: dict[str, Sampler], rounds: int) -> dict[str, Measurement]:
    """Round-robin: every model gets one sample per round; the starting model rotates so that no
    model always follows the same one (the previous model's leftovers in the caches affect the
    next)."""
    names, samples = list(samplers), {name: [] for name in samplers}
    with torch.inference_mode():
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                samples[name] += samplers[name]()
    return {name: Measurement.of(s) for name, s in samples.items()}


def time_jobs(jobs: dict[str, tuple[nn.Module, torch.Tensor]], backend: str, threads: int,
              rounds: int | None, kept: dict[str, Sampler] | None = None,
              **opts) -> dict[str, Measurement]:
    """Measure each (model, example input) interleaved, and the `kept` samplers made earlier with
    them (`make_sampler`: a table's reference, exported once for all its chunks); exports live in
    a temporary directory, removed with the programs when the measurement ends."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    try:
        with tempfile.TemporaryDirectory(prefix="latency-") as tmp, thread_count(backend, threads):
            samplers = dict(kept or {}) | {
                name: make_sampler(backend, model.eval(), x, threads, Path(tmp), f"m{i}", **opts)
                for i, (name, (model, x)) in enumerate(jobs.items())}
            return _interleave(samplers, rounds or DEFAULT_ROUNDS[backend])
    finally:
        if backend != "cpu":
            forget_exports()


def forget_exports() -> None:
    """Drop what exporting leaves behind in this process, which otherwise grows by about 1 MB per
    exported layer, 2 GB over a table: ExecuTorch's partitioner memoizes node comparisons without
    bound (executorch.exir.backend.utils.is_same_node, an lru_cache that holds on to every graph
    it lowered), torch's fake-tensor cache keeps entries for every delegate (torch.compiler.reset
    clears it) and torch.fx keeps every generated module's source for tracebacks (a private
    cache, skipped where a torch release has moved it)."""
    backend_utils = sys.modules.get("executorch.exir.backend.utils")
    if backend_utils is not None:
        backend_utils.is_same_node.cache_clear()
    torch.compiler.reset()
    loader = getattr(torch.fx.graph_module, "_loader", None)
    for key in list(getattr(loader, "eval_cache", {})):
        linecache.cache.pop(key, None)
        del loader.eval_cache[key]
    gc.collect()


def measure_programs(programs: dict[str, Path], x: torch.Tensor, threads: int = 1,
                     rounds: int | None = None) -> dict[str, Measurement]:
    """Time .pte files as they are (exported elsewhere, e.g. a trained network) through
    ExecuTorch's runtime, round-robin in one run, batch 1 on input `x`."""
    from executorch.runtime import Runtime

    with thread_count("executorch", threads):
        # the programs stay referenced while timing: a method must not outlive its program
        loaded = {name: Runtime.get().load_program(Path(path)) for name, path in programs.items()}
        methods = {name: program.load_method("forward") for name, program in loaded.items()}
        samplers = {name: _block_sampler(functools.partial(m.execute, (x,)), threads)
                    for name, m in methods.items()}
        return _interleave(samplers, rounds or DEFAULT_ROUNDS["executorch"])


def ratio(a: Measurement, b: Measurement) -> float:
    """a / b for two networks measured interleaved: the median of the per-round ratios. The two
    samples of a round are taken moments apart, so a slow spell of the machine cancels in their
    ratio; on this machine the spread of repeated ratios halved compared with the ratio of the
    medians."""
    if len(a.samples) != len(b.samples):
        return a.median_ms / b.median_ms
    return float(np.median(np.array(a.samples) / np.array(b.samples)))


def measure_interleaved(models: dict[str, nn.Module], input_size: int = 224, threads: int = 1,
                        backend: str = "cpu",
                        rounds: int | None = None, **opts) -> dict[str, Measurement]:
    """Measure several networks in one run, round-robin, batch 1: use it for every comparison."""
    x = torch.randn(1, 3, input_size, input_size)
    return time_jobs({name: (m, x) for name, m in models.items()}, backend, threads, rounds, **opts)


def measure(model: nn.Module, input_size: int = 224, threads: int = 1, backend: str = "cpu",
            **opts) -> Measurement:
    """Latency of one network at batch 1: median and interquartile range in ms, and the raw
    samples."""
    return measure_interleaved({"model": model}, input_size, threads, backend, **opts)["model"]


def relative_latency(model: nn.Module, reference: nn.Module, input_size: int = 224,
                     threads: int = 1, backend: str = "cpu", **opts) -> float:
    """LAT(model) / LAT(reference), both timed interleaved in one run: drift-free, so a search can
    use it as LAT(m) / T in Eq. 2 with the target T set to the reference's latency."""
    got = measure_interleaved({"model": model, "reference": reference}, input_size, threads,
                              backend, **opts)
    return ratio(got["model"], got["reference"])


def machine() -> str:
    """"<cpu model>, <n> cores": which machine a table or a benchmark's figures come from."""
    cpu = re.search(r"model name\s*:\s*(.*)",
                    Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else "")
    return f"{cpu[1].strip() if cpu else platform.machine()}, {os.cpu_count()} cores"


# ----------------------------------------------------------------------------- command line


def add_platform_options(p: argparse.ArgumentParser) -> None:
    """Where and how to time: --backend, --threads, --input-size, --rounds and each backend's own
    options (`platform_opts`). The commands that time networks (this one, latency_table.py) share
    them."""
    from cli import at_least  # the command line's helpers; the measurements above need none

    p.add_argument("--backend", choices=BACKENDS, default="cpu")
    p.add_argument("--threads", type=at_least(1), default=1)
    p.add_argument("--input-size", type=at_least(32), default=224)
    p.add_argument("--rounds", type=at_least(1), default=None,
                   help="samples per network (default: 50; adb: 3 runner calls)")
    add_adb_options(p)


def add_adb_options(p: argparse.ArgumentParser) -> None:
    """The adb backend's own options: which phone, where its files go, how its runner is started
    (`platform_opts` reads them). Also train.py's, which times on the phone with --latency adb."""
    from cli import at_least

    adb = p.add_argument_group("adb backend")
    adb.add_argument("--serial", help="the phone, when several are connected")
    adb.add_argument("--device-dir", default="/data/local/tmp/mnasnet",
                     help="where .pte files are pushed")
    adb.add_argument("--runner", default="/data/local/tmp/executor_runner",
                     help="executor_runner on the phone")
    adb.add_argument("--taskset", metavar="MASK",
                     help="CPU mask to pin the runner, e.g. 80 for core 7 (a big core on many "
                     "phones)")
    adb.add_argument("--num-executions", type=at_least(2), default=10)


def platform_opts(args: argparse.Namespace,
                  images: torch.Tensor | None = None) -> dict[str, dict]:
    """Each backend's own options, from `add_platform_options`' (or `add_adb_options`') arguments
    and the int8 calibration `images` the caller loaded (`calibration_inputs`):
    {backend: {option: value}}."""
    return {"adb": {"serial": args.serial, "device_dir": args.device_dir, "runner": args.runner,
                    "taskset": args.taskset, "num_executions": args.num_executions},
            "executorch-int8": {"images": images}}


def main(argv: list[str] | None = None) -> int:
    from cli import Parser  # the command line builds NAME: it needs models.py, the rest does not
    from models import REFERENCE_ARCHS, build_model, load_arch

    p = Parser(description="Measure a network's latency on a platform "
                           "(a per-layer table: latency_table.py; a detector: detection.py).")
    p.add_argument("arch", metavar="NAME_OR_JSON",
                   help=f"one of {', '.join(REFERENCE_ARCHS)}, or an architecture .json")
    add_platform_options(p)
    args = p.parse_args(argv)
    opts = platform_opts(args).get(args.backend, {})
    if args.backend == "executorch-int8":
        print("note: int8 activation ranges are calibrated on random inputs here: the timing is "
              "the same as with images (train.py and latency_table.py calibrate on Fashion-MNIST)",
              file=sys.stderr)
    keep_freed_memory()
    try:
        model = build_model(load_arch(args.arch))
        m = measure(model, args.input_size, args.threads, args.backend, rounds=args.rounds, **opts)
    except (ValueError, LatencyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, ValueError) else 1
    print(f"{args.arch}: {args.backend}, {args.threads} thread(s), "
          f"{args.input_size}x{args.input_size}, {len(m.samples)} samples")
    print(f"median_ms={m.median_ms:.3f} iqr_ms={m.iqr_ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
