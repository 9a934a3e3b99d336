"""The per-layer latency table (paper Sec. 5; FBNet, Wu et al. 2019; ProxylessNAS, Cai et al. 2019).

Timing every sampled network on the target takes seconds to minutes; a search samples hundreds.
A table times every distinct layer the search space can produce once, and predicts a network as
the sum over its layers, calibrated against whole networks measured at build time (nn-Meter,
Zhang et al. 2021, shows why a plain sum is off: kernels fuse and caches differ). Every time is
relative to a reference network (MobileNetV2) timed in the same run, so the machine's drift during
a long build cancels, and a later run re-times the reference to put the table in its own units.

    python latency_table.py --build-table runs/latency_table_cpu.json [--backend executorch]  # resumable
    python latency_table.py --check-table runs/latency_table_cpu.json --samples 40
    python latency_table.py --recalibrate runs/latency_table_cpu.json   # another day or machine

Needs latency.py (the measurements and their platform options), models.py and cli.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import latency  # the measurements: a table is built from them (and tests replace them there)
from cli import Parser, at_least
from models import (Arch, BlockArgs, Layer, LayerSpec, MnasNet, block_layer_specs, build_model, conv_bn, effective_skip,
                    output_size)

CALIBRATION_NETWORKS = 16  # the whole networks a table's a and b are fitted on


def _tail(cin: int, head: int, num_classes: int) -> nn.Module:
    """The head as in models.MnasNet (1x1 conv + BN + ReLU, global average pool, dropout, FC):
    a network without stem or blocks, so it is the same code that builds every network."""
    tail = MnasNet(Arch((), cin, head), num_classes)
    tail.stem = nn.Identity()
    return tail


def layer_key(s: LayerSpec, res: int) -> str:
    """A layer's identity for latency. The skip is the shortcut the layer really gets, so descriptions
    that build the same module (an identity skip where channels change adds nothing) share one entry."""
    skip = effective_skip(s)
    return f"{s.op} e{s.expansion} k{s.kernel} s{s.stride} se{s.se_ratio:g} {skip} {s.cin}->{s.cout} @{res}"


def arch_entries(arch: Arch, input_size: int = 224, num_classes: int = 1000) -> list[tuple[str, object, int]]:
    """The deployment network's pieces in order, repeats included: (table key, what it is, input resolution)."""
    res, last = output_size(input_size, 2), arch.stem
    out = [(f"stem 3->{arch.stem} k3 s2 @{input_size}", ("stem", arch.stem), input_size)]
    for layers in block_layer_specs(arch):
        for s in layers:
            out.append((layer_key(s, res), s, res))
            res, last = output_size(res, s.stride), s.cout
    return out + [(f"head {last}->{arch.head} fc{num_classes} @{res}", ("head", last, arch.head, num_classes), res)]


def space_entries(block_options: list[list[BlockArgs]], input_size: int = 224, stem: int = 32, head: int = 1280,
                  num_classes: int = 1000) -> dict[str, tuple[object, int]]:
    """Every distinct layer a factorized space (Sec. 4.1) can produce, plus stem and heads: key -> (what,
    input resolution). A block's input channels come from the nearest earlier block that is not empty
    (repeats may be 0) or from the stem; its layers after the first are all alike, so two suffice."""
    pieces = arch_entries(Arch((), stem, head), input_size, num_classes)[:1]  # the stem
    cins, res = {stem}, output_size(input_size, 2)
    for i, options in enumerate(block_options):
        strides = {b.stride for b in options}
        if len(strides) != 1:
            raise ValueError(f"block {i}: every option must have the same stride, got {sorted(strides)}")
        for b in (b for b in options if b.repeats):
            for cin in sorted(cins):  # a one-block network whose stem gives cin channels at resolution res
                pieces += arch_entries(Arch((replace(b, repeats=min(b.repeats, 2)),), cin, head), 2 * res, num_classes)[1:-1]
        cins = (cins if any(b.repeats == 0 for b in options) else set()) | {b.out for b in options if b.repeats}
        res = output_size(res, strides.pop())
    for cin in sorted(cins):
        pieces += arch_entries(Arch((), cin, head), 2 * res, num_classes)[-1:]  # the heads
    return {key: (what, r) for key, what, r in pieces}


def _entry_job(entry: tuple) -> tuple[nn.Module, torch.Tensor]:
    what, res = entry
    if isinstance(what, LayerSpec):
        return Layer(what), torch.randn(1, what.cin, res, res)
    if what[0] == "stem":
        return conv_bn(3, what[1], 3, 2), torch.randn(1, 3, res, res)  # the stem
    _, cin, head, num_classes = what
    return _tail(cin, head, num_classes), torch.randn(1, cin, res, res)


@dataclass
class LatencyTable:
    """Per-layer latencies of one backend, in the time units of one moment: the reference network took
    `reference_ms` then. Every chunk of layers is timed interleaved with the reference and rescaled to
    that moment, so the machine's drift during a long build cancels. A prediction is

        predict(arch) = scale * (a * sum of the arch's stem, layers and head + b),

    where a, b are fitted on whole networks measured at build time (a corrects for the caches and the
    per-call overheads a layer timed alone does not share, b for what is in no layer), and `scale` is
    (reference now) / reference_ms from `retime_reference()`, or 1 for build-time units."""

    backend: str
    threads: int
    input_size: int
    reference_ms: float
    layers: dict[str, float] = field(default_factory=dict)
    fit: list[float] | None = None  # [a, b]
    info: dict = field(default_factory=dict)  # torch version, machine, date, calibration points
    num_classes: int = 1000
    scale: float = 1.0

    def save(self, path: str | Path) -> None:
        data = {k: v for k, v in self.__dict__.items() if k != "scale"}
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)  # a build killed mid-write keeps the previous file

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror}") from None
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path} is not a latency table: {e}") from None

    def layer_sum(self, arch: Arch) -> float:
        try:
            return sum(self.layers[k] for k, _, _ in arch_entries(arch, self.input_size, self.num_classes))
        except KeyError as e:
            raise ValueError(f"layer {e.args[0]} is not in the table (built for another space or input size?)") from None

    def predict(self, arch: Arch, scale: float | None = None) -> float:
        a, b = self.fit or (1.0, 0.0)
        return (self.scale if scale is None else scale) * (a * self.layer_sum(arch) + b)

    def retime_reference(self, **opts) -> float:
        """Re-time the reference now and scale predictions by now / build time (the drift)."""
        ref = latency.measure_arch(latency.REFERENCE, self.backend, self.threads, self.input_size, **opts)
        self.scale = ref.median_ms / self.reference_ms
        return self.scale

    def measure_normalized(self, archs: list[Arch], rounds: int | None = None, group: int = 10, **opts) -> list[float]:
        """Whole networks, each interleaved with the reference in groups, in build-time units."""
        ref = build_model(latency.REFERENCE, self.num_classes)
        x, out = torch.randn(1, 3, self.input_size, self.input_size), []
        for i in tqdm(range(0, len(archs), group), desc="networks", unit="group"):
            jobs = {"reference": (ref, x)} | {str(j): (build_model(a, self.num_classes), x) for j, a in enumerate(archs[i:i + group])}
            got = latency._time(jobs, self.backend, self.threads, rounds, **opts)
            ref_now = got.pop("reference")
            out += [latency.ratio(m, ref_now) * self.reference_ms for m in got.values()]
        return out

    def _time_layers(self, path: str | Path, entries: dict[str, tuple[object, int]], total: int,
                     chunk: int, rounds: int | None, **opts) -> None:
        """Time `entries` chunk by chunk, each chunk interleaved with the reference, and save the
        table after every chunk: an interrupted build loses at most the chunk it was timing. The
        reference is exported once (ExecuTorch: a whole network, tens of seconds) and kept."""
        keys, backend, threads, size = list(entries), self.backend, self.threads, self.input_size
        print(f"{path}: {len(keys)} of {total} layers to time on {backend}, {chunk} at a time"
              + ("; each is exported to a .pte first" if backend != "cpu" else ""), flush=True)
        ref = build_model(latency.REFERENCE, self.num_classes).eval(), torch.randn(1, 3, size, size)
        bar = tqdm(total=total, initial=total - len(keys), desc="layers", unit="layer")
        with bar, tempfile.TemporaryDirectory(prefix="latency-") as tmp, latency._threads(backend, threads):
            kept = {"reference": latency._sampler(backend, *ref, threads, Path(tmp), "reference", **opts)}
            started = time.perf_counter()
            for i in range(0, len(keys), chunk):
                part = keys[i:i + chunk]
                jobs = {k: _entry_job(entries[k]) for k in part}
                got = latency._time(jobs, backend, threads, rounds, kept, **opts)
                # In reference units, times reference_ms: back to the speed of the build's start.
                ref_now = got["reference"]
                self.layers.update({k: latency.ratio(got[k], ref_now) * self.reference_ms for k in part})
                self.save(path)
                bar.update(len(part))
                if i == 0 and len(keys) > chunk:  # tqdm's ETA shows it only after the next chunk
                    took = time.perf_counter() - started
                    rest = took / len(part) * (len(keys) - len(part))
                    took, rest = timedelta(seconds=round(took)), timedelta(seconds=round(rest))
                    bar.write(f"the first {len(part)} layers took {took}: expected about {rest} "
                              f"(h:mm:ss) for the other {len(keys) - len(part)}, then the "
                              "calibration's whole networks")

    @classmethod
    def build(cls, path: str | Path, block_options: list[list[BlockArgs]], backend: str = "cpu", threads: int = 1,
              input_size: int = 224, stem: int = 32, head: int = 1280, num_classes: int = 1000, chunk: int = 40,
              rounds: int | None = None, calibration: int = CALIBRATION_NETWORKS, seed: int = 0,
              **opts) -> LatencyTable:
        """Time every layer of the space, then fit the calibration. Resumable: the file at `path` is
        saved after every chunk of layers and an existing one is continued (its layers are kept),
        so a build stopped by Ctrl-C, a kill or a reboot is re-run with the same command. (Ctrl-C
        also removes the chunk's exported programs; a kill leaves them in the temporary folder.)"""
        if Path(path).exists():
            table = cls.load(path)
            if (table.backend, table.threads, table.input_size, table.num_classes) != (backend, threads, input_size, num_classes):
                raise ValueError(f"{path} was built for {table.backend}, {table.threads} thread(s), {table.input_size} px: "
                                 "choose another file to build a new table")
        else:
            rounds_ref = 2 * (rounds or latency.DEFAULT_ROUNDS[backend])
            ref = latency.measure_arch(latency.REFERENCE, backend, threads, input_size, rounds=rounds_ref, **opts)
            info = {"torch": torch.__version__, "machine": latency.machine(), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "reference": latency.REFERENCE, "clock": "thread CPU time" if threads == 1 and backend != "adb" else "wall"}
            table = cls(backend, threads, input_size, ref.median_ms, info=info, num_classes=num_classes)
            table.save(path)
        entries = space_entries(block_options, input_size, stem, head, num_classes)
        todo = [k for k in entries if k not in table.layers]
        if todo:
            todo_entries = {k: entries[k] for k in todo}
            table._time_layers(path, todo_entries, len(entries), chunk, rounds, **opts)
        if table.fit is None:
            table.calibrate(calibration_archs(block_options, calibration, seed, stem, head), rounds, **opts)
            table.save(path)
        return table

    def calibrate(self, archs: list[Arch], rounds: int | None = None, **opts) -> None:
        """Fit a and b of `predict` on whole networks timed now against their sums of layers. The
        fit belongs to the machine it was timed on: re-run it (`latency_table.py --recalibrate FILE`)
        when the table is used on another machine or day."""
        measured, sums = self.measure_normalized(archs, rounds, **opts), [self.layer_sum(a) for a in archs]
        if self.fit is not None:
            self.info.setdefault("previous_fits", []).append([*self.fit, self.info.get("calibrated")])
        # Weighted by 1/measured: each network's relative error counts the same.
        self.fit = [float(v) for v in np.polyfit(sums, measured, 1, w=1 / np.array(measured))] if len(archs) > 1 else [1.0, 0.0]
        self.info["calibration"] = [[round(s, 4), round(m, 4)] for s, m in zip(sums, measured)]
        self.info["calibrated"] = time.strftime("%Y-%m-%d %H:%M:%S")


def calibration_archs(block_options: list[list[BlockArgs]], n: int, seed: int, stem: int = 32,
                      head: int = 1280) -> list[Arch]:
    """`n` networks drawn from the block options (seeded): what a table's calibration times whole."""
    rng = random.Random(seed)
    return [Arch(tuple(rng.choice(o) for o in block_options), stem, head) for _ in range(n)]


def check_table(table: LatencyTable, archs: list[Arch], rounds: int | None = None, **opts) -> dict:
    """Predicted vs measured on `archs`, both in the table's build-time units (drift cancelled by the
    reference measured in the same run): share within +-10%, mean abs. % error, Spearman rank correlation."""
    measured = np.array(table.measure_normalized(archs, rounds, **opts))
    predicted = np.array([table.predict(a, scale=1.0) for a in archs])
    err = predicted / measured - 1
    ranks = [np.argsort(np.argsort(v)) for v in (predicted, measured)]
    spearman = float(np.corrcoef(*ranks)[0, 1]) if len(archs) > 1 else float("nan")
    return {"within10": 100 * float(np.mean(np.abs(err) <= 0.10)), "mape": 100 * float(np.mean(np.abs(err))),
            "spearman": spearman, "predicted": predicted.tolist(), "measured": measured.tolist()}


def table_command(args: argparse.Namespace, backend_opts: dict[str, dict]) -> int:
    """--build-table FILE times every layer of the paper's space into FILE, resumably; --check-table
    FILE compares its predictions with whole networks timed now; --recalibrate FILE re-fits its
    calibration on its build's networks. Bad input raises ValueError."""
    from mnas import SearchSpace  # the paper's space; the functions above take any block options

    space = SearchSpace()
    options = [space.block_options(i) for i in range(len(space.skeleton))]
    if args.build_table:
        opts = backend_opts.get(args.backend, {})
        # Ctrl-C stops the build cleanly, also when a shell started it in the background with
        # SIGINT ignored (as train.py does): `kill -INT PID`.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        Path(args.build_table).parent.mkdir(parents=True, exist_ok=True)
        try:
            t = LatencyTable.build(args.build_table, options, args.backend, args.threads,
                                   args.input_size, space.stem, space.head, rounds=args.rounds,
                                   seed=args.seed, **opts)
        except KeyboardInterrupt:  # Ctrl-C: every finished chunk is in the file
            saved = Path(args.build_table).exists()
            kept = len(LatencyTable.load(args.build_table).layers) if saved else 0
            total = len(space_entries(options, args.input_size, space.stem, space.head))
            print(f"interrupted: {kept} of {total} layers are saved in {args.build_table}; "
                  "the same command continues the build", file=sys.stderr)
            return 130
        print(f"{args.build_table}: {len(t.layers)} entries, reference {t.reference_ms:.3f} ms, "
              f"fit a={t.fit[0]:.4f} b={t.fit[1]:.3f}")
        return 0
    table = LatencyTable.load(args.check_table or args.recalibrate)
    opts = backend_opts.get(table.backend, {})  # a table is checked on its own backend
    if args.recalibrate:
        if table.fit is None:
            raise ValueError(f"{args.recalibrate} has no calibration yet: "
                             "finish its build (--build-table)")
        n = len(table.info.get("calibration", [])) or CALIBRATION_NETWORKS  # the build's, again
        old = table.fit
        archs = calibration_archs(options, n, args.seed, space.stem, space.head)
        table.calibrate(archs, args.rounds, **opts)
        table.save(args.recalibrate)
        print(f"{args.recalibrate}: fit a={old[0]:.4f} b={old[1]:.3f} -> "
              f"a={table.fit[0]:.4f} b={table.fit[1]:.3f} on {n} whole networks")
        return 0
    rng = random.Random(args.seed + 1)  # not the calibration's draws
    archs = [space.decode(space.sample(rng)) for _ in range(args.samples)]
    r = check_table(table, archs, args.rounds, **opts)
    print(f"within10={r['within10']:.1f} mape={r['mape']:.2f} spearman={r['spearman']:.4f}")
    return 0


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    p = Parser(description="Build, check or re-calibrate a per-layer latency table of the MnasNet search space.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--build-table", metavar="FILE", help="time every layer of the search space into FILE (resumable)")
    what.add_argument("--check-table", metavar="FILE", help="compare FILE's predictions with whole networks timed now")
    what.add_argument("--recalibrate", metavar="FILE",
                      help="re-fit FILE's calibration on its build's calibration networks, timed now (another machine or day)")
    p.add_argument("--samples", type=at_least(2), default=20, help="random architectures for --check-table")
    p.add_argument("--seed", type=int, default=0)
    latency.add_platform_options(p)
    args = p.parse_args(argv)
    try:
        return table_command(args, latency.platform_opts(args))
    except (ValueError, latency.LatencyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, ValueError) else 1


if __name__ == "__main__":
    sys.exit(main())
