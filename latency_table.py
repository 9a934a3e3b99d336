"""The per-layer latency table (paper Sec. 5; FBNet, Wu et al. 2019; ProxylessNAS, Cai et al. 2019).

Timing every sampled network on the target takes seconds to minutes; a search samples hundreds.
A table times every distinct layer the search space can produce once, and predicts a network as
the sum over its layers, calibrated against whole networks measured at build time (nn-Meter,
Zhang et al. 2021, shows why a plain sum is off: kernels fuse and caches differ). Every time is
relative to a reference network (MobileNetV2) timed in the same run, so the machine's drift during
a long build cancels, and a later run re-times the reference to put the table in its own units.

The table knows a search space only through a `TableSpace`: how to list a network's layers by
key, build one layer alone, and build a whole network. `mnasnet_space()`, the default, is the
paper's (models.py); give any other space its own three functions.

The file (JSON) holds: backend, threads, input_size, num_classes, reference_ms (the reference's
median at build time), layers ({key: ms in build-time units}), fit ([a, b] of `predict`, or null
until calibrated) and info (torch version, machine, dates, the calibration's [sum, measured] pairs
and earlier fits).

    # resumable
    python latency_table.py --build-table runs/latency_table_cpu.json [--backend executorch]
    python latency_table.py --check-table runs/latency_table_cpu.json --samples 40
    python latency_table.py --recalibrate runs/latency_table_cpu.json   # another day or machine

Copied with latency.py alone, it needs torch, numpy and tqdm, and a space of your own; the default
space needs models.py, the command line mnas.py, models.py, training.py and cli.py.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import latency  # the measurements: a table is built from them (and tests replace them there)

CALIBRATION_NETWORKS = 16  # the whole networks a table's a and b are fitted on


@dataclass(frozen=True)
class TableSpace:
    """What a table needs of a search space. A network and a layer are whatever the space says
    they are (models.Arch and models.LayerSpec in the paper's).

    layers(net)         the network's layers in order, repeats included, as (key, layer): the key
                        is a layer's identity for latency (layers with one key share an entry)
    build_layer(layer)  the layer alone, as (module, example input at batch 1), to be timed
    build_network(net)  the whole network, fed 1 x 3 x input_size x input_size images
    reference           the network every time is relative to
    """

    layers: Callable[[Any], list[tuple[str, Any]]]
    build_layer: Callable[[Any], tuple[nn.Module, torch.Tensor]]
    build_network: Callable[[Any], nn.Module]
    reference: Any


def mnasnet_space(input_size: int = 224, num_classes: int = 1000) -> TableSpace:
    """The paper's space (models.py): stem, every layer of the seven blocks, head; keyed by
    `models.layer_key`; the reference is MobileNetV2."""
    import models  # the default space only: a table given its own space never needs it

    return TableSpace(
        layers=lambda arch: [(key, (what, res)) for key, what, res
                             in models.arch_entries(arch, input_size, num_classes)],
        build_layer=models.entry_module,
        build_network=lambda arch: models.build_model(arch, num_classes),
        reference=models.REFERENCE)


@dataclass
class LatencyTable:
    """Per-layer latencies of one backend, in the time units of one moment: the reference network
    took `reference_ms` then. Every chunk of layers is timed interleaved with the reference and
    rescaled to that moment, so the machine's drift during a long build cancels. A prediction is

        predict(net) = scale * (a * sum of the net's layers (stem, blocks, head) + b),

    where a, b are fitted on whole networks measured at build time (a corrects for the caches and
    the per-call overheads a layer timed alone does not share, b for what is in no layer), and
    `scale` is (reference now) / reference_ms from `retime_reference()`, or 1 for build-time units.
    `space` (not saved) says what a network's layers are: `mnasnet_space()` unless given."""

    backend: str
    threads: int
    input_size: int
    reference_ms: float
    layers: dict[str, float] = field(default_factory=dict)
    fit: list[float] | None = None  # [a, b]
    info: dict = field(default_factory=dict)  # torch version, machine, date, calibration points
    num_classes: int = 1000
    scale: float = 1.0
    space: TableSpace | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.space is None:
            self.space = mnasnet_space(self.input_size, self.num_classes)

    def save(self, path: str | Path) -> None:
        data = {k: v for k, v in self.__dict__.items() if k not in ("scale", "space")}
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)  # a build killed mid-write keeps the previous file

    @classmethod
    def load(cls, path: str | Path, space: TableSpace | None = None) -> LatencyTable:
        try:
            return cls(**json.loads(Path(path).read_text()), space=space)
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror}") from None
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path} is not a latency table: {e}") from None

    def layer_sum(self, net) -> float:
        try:
            return sum(self.layers[key] for key, _ in self.space.layers(net))
        except KeyError as e:
            raise ValueError(f"layer {e.args[0]} is not in the table "
                             "(built for another space or input size?)") from None

    def predict(self, net, scale: float | None = None) -> float:
        a, b = self.fit or (1.0, 0.0)
        return (self.scale if scale is None else scale) * (a * self.layer_sum(net) + b)

    def retime_reference(self, **opts) -> float:
        """Re-time the reference now and scale predictions by now / build time (the drift)."""
        ref = latency.measure(self.space.build_network(self.space.reference), self.input_size,
                              self.threads, self.backend, **opts)
        self.scale = ref.median_ms / self.reference_ms
        return self.scale

    def measure_normalized(self, nets: list, rounds: int | None = None, group: int = 10,
                           **opts) -> list[float]:
        """Whole networks, each interleaved with the reference in groups, in build-time units."""
        ref = self.space.build_network(self.space.reference)
        x, out = torch.randn(1, 3, self.input_size, self.input_size), []
        for i in tqdm(range(0, len(nets), group), desc="networks", unit="group"):
            jobs = {"reference": (ref, x)} | {
                str(j): (self.space.build_network(net),
                         x) for j, net in enumerate(nets[i:i + group])}
            got = latency.time_jobs(jobs, self.backend, self.threads, rounds, **opts)
            ref_now = got.pop("reference")
            out += [latency.ratio(m, ref_now) * self.reference_ms for m in got.values()]
        return out

    def _time_layers(self, path: str | Path, entries: dict[str, Any], total: int,
                     chunk: int, rounds: int | None, **opts) -> None:
        """Time `entries` chunk by chunk, each chunk interleaved with the reference, and save the
        table after every chunk: an interrupted build loses at most the chunk it was timing. The
        reference is exported once (ExecuTorch: a whole network, tens of seconds) and kept."""
        keys, backend, threads, size = list(entries), self.backend, self.threads, self.input_size
        print(f"{path}: {len(keys)} of {total} layers to time on {backend}, {chunk} at a time"
              + ("; each is exported to a .pte first" if backend != "cpu" else ""), flush=True)
        ref = self.space.build_network(self.space.reference).eval(), torch.randn(1, 3, size, size)
        bar = tqdm(total=total, initial=total - len(keys), desc="layers", unit="layer")
        with (bar, tempfile.TemporaryDirectory(prefix="latency-") as tmp,
              latency.thread_count(backend, threads)):
            kept = {"reference": latency.make_sampler(backend, *ref, threads, Path(tmp),
                                                      "reference", **opts)}
            started = time.perf_counter()
            for i in range(0, len(keys), chunk):
                part = keys[i:i + chunk]
                jobs = {k: self.space.build_layer(entries[k]) for k in part}
                got = latency.time_jobs(jobs, backend, threads, rounds, kept, **opts)
                # In reference units, times reference_ms: back to the speed of the build's start.
                ref_now = got["reference"]
                self.layers.update({k: latency.ratio(got[k],
                                                     ref_now) * self.reference_ms for k in part})
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
    def build(cls, path: str | Path, entries: dict[str, Any], calibration: list,
              space: TableSpace | None = None, backend: str = "cpu", threads: int = 1,
              input_size: int = 224, num_classes: int = 1000, chunk: int = 40,
              rounds: int | None = None, **opts) -> LatencyTable:
        """Time every layer of `entries` ({key: layer}: every distinct layer of the space), then
        fit the calibration on the `calibration` networks. Resumable: the file at `path` is
        saved after every chunk of layers and an existing one is continued (its layers are kept),
        so a build stopped by Ctrl-C, a kill or a reboot is re-run with the same command. (Ctrl-C
        also removes the chunk's exported programs; a kill leaves them in the temporary folder.)"""
        if Path(path).exists():
            table = cls.load(path, space)
            built = (table.backend, table.threads, table.input_size, table.num_classes)
            if built != (backend, threads, input_size, num_classes):
                raise ValueError(f"{path} was built for {table.backend}, {table.threads} "
                                 "thread(s), "
                                 f"{table.input_size} px: choose another file to build a new table")
        else:
            table = cls(backend, threads, input_size, 0.0, num_classes=num_classes, space=space)
            rounds_ref = 2 * (rounds or latency.DEFAULT_ROUNDS[backend])
            table.reference_ms = latency.measure(
                table.space.build_network(table.space.reference), input_size, threads, backend,
                rounds=rounds_ref, **opts).median_ms
            clock = "thread CPU time" if threads == 1 and backend != "adb" else "wall"
            table.info = {"torch": torch.__version__, "machine": latency.machine(),
                          "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                          "reference": str(table.space.reference), "clock": clock}
            table.save(path)
        todo = {k: layer for k, layer in entries.items() if k not in table.layers}
        if todo:
            table._time_layers(path, todo, len(entries), chunk, rounds, **opts)
        if table.fit is None:
            table.calibrate(calibration, rounds, **opts)
            table.save(path)
        return table

    def calibrate(self, nets: list, rounds: int | None = None, **opts) -> None:
        """Fit a and b of `predict` on whole networks timed now against their sums of layers. The
        fit belongs to the machine it was timed on: re-run it (`latency_table.py --recalibrate
        FILE`) when the table is used on another machine or day."""
        measured = self.measure_normalized(nets, rounds, **opts)
        sums = [self.layer_sum(net) for net in nets]
        if self.fit is not None:
            self.info.setdefault("previous_fits", []).append([*self.fit,
                                                              self.info.get("calibrated")])
        # Weighted by 1/measured: each network's relative error counts the same.
        self.fit = ([float(v) for v in np.polyfit(sums, measured, 1, w=1 / np.array(measured))]
                    if len(nets) > 1 else [1.0, 0.0])
        self.info["calibration"] = [[round(s, 4), round(m, 4)] for s, m in zip(sums, measured)]
        self.info["calibrated"] = time.strftime("%Y-%m-%d %H:%M:%S")


def build_space_table(path: str | Path, block_options: list, backend: str = "cpu",
                      threads: int = 1, input_size: int = 224, stem: int = 32, head: int = 1280,
                      num_classes: int = 1000, chunk: int = 40, rounds: int | None = None,
                      calibration: int = CALIBRATION_NETWORKS, seed: int = 0,
                      **opts) -> LatencyTable:
    """`LatencyTable.build` for a factorized space of the paper's kind (each block's options, as
    `mnas.SearchSpace.block_options`): every layer it can produce, and `calibration` networks
    drawn from it."""
    import models  # the paper's kind of space

    entries = models.space_entries(block_options, input_size, stem, head, num_classes)
    nets = calibration_archs(block_options, calibration, seed, stem, head)
    return LatencyTable.build(path, entries, nets, mnasnet_space(input_size, num_classes), backend,
                              threads, input_size, num_classes, chunk, rounds, **opts)


def calibration_archs(block_options: list, n: int, seed: int, stem: int = 32,
                      head: int = 1280) -> list:
    """`n` networks drawn from the block options (seeded): what a table's calibration times
    whole."""
    from models import Arch

    rng = random.Random(seed)
    return [Arch(tuple(rng.choice(o) for o in block_options), stem, head) for _ in range(n)]


def check_table(table: LatencyTable, nets: list, rounds: int | None = None, **opts) -> dict:
    """Predicted vs measured on `nets`, both in the table's build-time units (drift cancelled by
    the reference measured in the same run): share within +-10%, mean abs. % error, Spearman rank
    correlation."""
    measured = np.array(table.measure_normalized(nets, rounds, **opts))
    predicted = np.array([table.predict(net, scale=1.0) for net in nets])
    err = predicted / measured - 1
    ranks = [np.argsort(np.argsort(v)) for v in (predicted, measured)]
    spearman = float(np.corrcoef(*ranks)[0, 1]) if len(nets) > 1 else float("nan")
    return {"within10": 100 * float(np.mean(np.abs(err) <= 0.10)),
            "mape": 100 * float(np.mean(np.abs(err))), "spearman": spearman,
            "predicted": predicted.tolist(), "measured": measured.tolist()}


def table_command(args: argparse.Namespace) -> int:
    """--build-table FILE times every layer of the paper's space into FILE, resumably; --check-table
    FILE compares its predictions with whole networks timed now; --recalibrate FILE re-fits its
    calibration on its build's networks. Bad input raises ValueError."""
    from mnas import SearchSpace  # the paper's space; the functions above take any space
    from models import space_entries
    from training import calibration_images

    def backend_opts(backend: str) -> dict:
        """The backend's own options; int8: Fashion-MNIST calibration images from --data-dir."""
        int8 = backend == "executorch-int8"
        images = calibration_images(args.data_dir) if int8 else None
        return latency.platform_opts(args, images).get(backend, {})

    latency.keep_freed_memory()  # a layer timed alone pays no page faults a network does not
    space = SearchSpace()
    options = [space.block_options(i) for i in range(len(space.skeleton))]
    if args.build_table:
        # Ctrl-C stops the build cleanly, also when a shell started it in the background with
        # SIGINT ignored (as train.py does): `kill -INT PID`.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        Path(args.build_table).parent.mkdir(parents=True, exist_ok=True)
        try:
            t = build_space_table(args.build_table, options, args.backend, args.threads,
                                  args.input_size, space.stem, space.head, rounds=args.rounds,
                                  seed=args.seed, **backend_opts(args.backend))
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
    opts = backend_opts(table.backend)  # a table is checked on its own backend
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
    from cli import Parser, at_least

    p = Parser(description="Build, check or re-calibrate a per-layer latency table of the MnasNet "
                           "search space.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--build-table", metavar="FILE",
                      help="time every layer of the search space into FILE (resumable)")
    what.add_argument("--check-table", metavar="FILE",
                      help="compare FILE's predictions with whole networks timed now")
    what.add_argument("--recalibrate", metavar="FILE",
                      help="re-fit FILE's calibration on its build's calibration networks, "
                           "timed now (another machine or day)")
    p.add_argument("--samples", type=at_least(2), default=20,
                   help="random architectures for --check-table")
    p.add_argument("--seed", type=int, default=0)
    latency.add_platform_options(p)
    p.add_argument("--data-dir", default="data",
                   help="executorch-int8: where Fashion-MNIST is (or goes) for the calibration "
                        "images, as train.py's --data-dir; Debian's package is found too")
    args = p.parse_args(argv)
    try:
        return table_command(args)
    except (ValueError, latency.LatencyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, ValueError) else 1


if __name__ == "__main__":
    sys.exit(main())
