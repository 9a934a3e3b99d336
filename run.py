"""A search run as typed objects (paper Sec. 4.2, Fig. 1): what `python train.py --search` was
asked to do, what it measured once at its start, and what it found, read the same way by every
command (train.py, figures.py, benchmarks/).

    SearchConfig    the settings (config.json): adds its options to a parser, validates itself,
                    resumes from a run's file; the names of those that may change on resume
    RunConstants    what a run measures once (run.json): T, the reference networks' latencies
    open_run(dir)   a run directory as a `SearchRun`: config, constants and children
    latency_target  T and LAT(m) as one `mnas.LatencyTarget`: the measured latency on the
                    platform (or a latency table's prediction), or the MACs that stand in for it
    Progress        the line printed as each child finishes

Every default an older run's files lack is in one place, `OLD_RUNS` and `RunConstants.load`.
It needs cli.py, latency.py, mnas.py, models.py and training.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import latency
import mnas
from cli import Parser, UsageError, at_least
from models import REFERENCE, REFERENCE_ARCHS, Arch, build_model
from training import (DATASETS, PROXY, calibration_images, deployment_size, fmt_time,
                      pick_device)

# What an older run's config.json lacks: runs from before the proxy trained at half width, from
# before the cell space, and from before a phone's options were kept (so it used adb's defaults;
# also a run off the phone saves none). (run.json's are in RunConstants.load.)
OLD_RUNS = {"proxy_width": 1.0, "space": "factorized", "adb": None}


# ----------------------------------------------------------------------------- the settings


@dataclass(frozen=True)
class SearchConfig:
    """A search's settings, saved as config.json. A resumed run keeps them all but `RESUMABLE`."""

    dataset: str = "fashion-mnist"
    data_dir: str = "data"
    val_size: int | None = None
    seed: int = 0
    proxy_steps: int = PROXY.steps
    proxy_batch: int = PROXY.batch_size
    proxy_lr: float = PROXY.lr
    proxy_width: float = PROXY.width_mult
    controller: str = "reinforce"  # the controller's learning rule: reinforce, ppo or random
    batch: int = 6
    samples: int = 100
    latency: str = "cpu"  # where LAT(m) is measured, or "macs"
    latency_table: str | None = None
    threads: int = 0
    alpha: float = mnas.SOFT.alpha
    beta: float = mnas.SOFT.beta
    target_ms: float | None = None
    target_ratio: float | None = None
    workers: int = 1
    scheduler: str | None = None
    device: str = "auto"
    evaluator: str = "proxy"
    supernet: str | None = None
    supernet_steps: int = 2000
    space: str = "factorized"
    # --latency adb: the phone and how its runner starts (latency.platform_opts' "adb"), else None.
    # Neither resumable nor how it ran: the phone and the core it is pinned to are the platform.
    adb: dict | None = None

    # How a run runs, not what it searches: given again, they replace the saved ones on resume.
    RESUMABLE = ("samples", "workers", "scheduler", "device")
    # All that says how and where a run ran: two runs that differ only here searched the same.
    HOW_IT_RAN = (*RESUMABLE, "threads", "data_dir")

    @staticmethod
    def add_options(p: argparse.ArgumentParser) -> None:
        """The search's options (and the data, seed, device and phone options train.py's --arch
        shares: the phone's are latency.py's, for --latency adb)."""
        p.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
        p.add_argument("--data-dir", default="data")
        p.add_argument("--val-size", type=int, help="training images held out for the search's "
                                                    "accuracy (default 2000; synthetic 500)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=at_least(0), default=0,
                       help="torch threads for training (default: cores / workers)")
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                       help="where to train (default: the GPU if any)")
        s = p.add_argument_group("search")
        s.add_argument("--samples", type=int, help="children to sample in total (default 100)")
        s.add_argument("--batch", type=int, default=6, help="children per controller update")
        s.add_argument("--controller", default="reinforce", choices=["reinforce", "ppo", "random"],
                       help="the learning rule that trains the controller")
        s.add_argument("--evaluator", choices=["proxy", "supernet"], default="proxy",
                       help="ACC(m): train each child briefly (the paper's proxy) or score it "
                            "with a supernet's shared weights")
        s.add_argument("--supernet", metavar="FILE",
                       help="the supernet checkpoint to train or load (default "
                       "RUN_DIR/supernet.pt)")
        s.add_argument("--supernet-steps", type=int, default=2000,
                       help="training steps of the supernet (default 2000)")
        s.add_argument("--proxy-steps", type=int, default=PROXY.steps,
                       help=f"training steps per child (default {PROXY.steps})")
        s.add_argument("--proxy-batch", type=int, default=PROXY.batch_size)
        s.add_argument("--proxy-lr", type=float, default=PROXY.lr)
        s.add_argument("--proxy-width", type=float, default=PROXY.width_mult,
                       help="width multiplier of the child while it trains "
                            f"(default {PROXY.width_mult:g})")
        s.add_argument("--latency", default="cpu", choices=[*latency.BACKENDS, "macs"],
                       help="where LAT(m) is measured; macs: LAT(m) is the multiply-adds (FLOPs "
                            "as the proxy), each child's latency still measured (this CPU or "
                            "--latency-table)")
        s.add_argument("--space", default="factorized", choices=["factorized", "cell"],
                       help="factorized: six decisions per block (the paper's); cell: one set "
                            "for all seven blocks, as a stacked cell (NASNet)")
        s.add_argument("--latency-table", metavar="FILE", help="predict LAT(m) from a per-layer "
                                                               "table (latency_table.py "
                                                               "--build-table)")
        s.add_argument("--target-ms", type=float,
                       help="T of Eq. 2 (default: MobileNetV2's latency on the same backend)")
        s.add_argument("--target-ratio", type=float, help="T as a multiple of MobileNetV2's "
                       "latency on the same backend (default 1; or --target-ms)")
        s.add_argument("--constraint", choices=["soft", "hard"], default="soft",
                       help="Eq. 3 presets: soft (-0.07, -0.07), hard (0, -1)")
        s.add_argument("--alpha", type=float, help="exponent below T (overrides --constraint)")
        s.add_argument("--beta", type=float, help="exponent above T (overrides --constraint)")
        s.add_argument("--workers", type=int, help="local worker processes training children "
                                                   "(default 1)")
        s.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler, e.g. tcp://10.0.0.1:8786")
        latency.add_adb_options(p)  # --latency adb: which phone, and how to time on it

    @classmethod
    def from_args(cls, args: argparse.Namespace, resume: str | None = None) -> SearchConfig:
        """The settings the options give (validated), or, with `resume` (a run directory), the
        run's own with only the RESUMABLE ones given replacing them."""
        flags = {f.name: getattr(args, f.name) for f in fields(cls) if f.name != "adb"}
        flags["adb"] = latency.platform_opts(args)["adb"] if args.latency == "adb" else None
        preset = mnas.HARD if args.constraint == "hard" else mnas.SOFT
        flags["alpha"] = preset.alpha if args.alpha is None else args.alpha
        flags["beta"] = preset.beta if args.beta is None else args.beta
        defaults = {"samples": 100, "workers": 1}  # None: not given, so a resume keeps the run's
        config = cls(**{k: defaults[k] if v is None and k in defaults else v
                        for k, v in flags.items()}).validated()
        if resume:
            return cls.resume(resume, {k: flags[k] for k in cls.RESUMABLE if flags[k] is not None})
        return config

    @classmethod
    def parse(cls, argv: list[str]) -> SearchConfig:
        """The settings `python train.py --search *argv` would search with (no --resume)."""
        p = Parser()
        cls.add_options(p)
        return cls.from_args(p.parse_args(argv))

    @classmethod
    def resume(cls, run_dir: str | Path, given: dict | None = None) -> SearchConfig:
        """A run's config.json, older runs' missing settings filled in (OLD_RUNS), and `given`
        (RESUMABLE settings only) replacing the saved ones."""
        path = Path(run_dir) / "config.json"
        if not path.exists():
            raise UsageError(f"--resume {run_dir}: no config.json there "
                             "(not a search run directory)")
        saved = {**OLD_RUNS, **json.loads(path.read_text())}
        changed = {k: v for k, v in (given or {}).items() if k in cls.RESUMABLE}
        return cls(**{**saved, **changed})

    def validated(self) -> SearchConfig:
        """Itself, or a UsageError naming the first setting that cannot be searched with."""
        for name in ("samples", "batch", "proxy_steps", "proxy_batch", "val_size", "workers",
                     "supernet_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if self.target_ms and self.target_ratio:
            raise UsageError("give T as --target-ms or as --target-ratio, not both")
        if self.latency == "macs" and self.target_ms:
            raise UsageError("--latency macs: T is in MACs, give it as --target-ratio "
                             "(a multiple of MobileNetV2's MACs), not --target-ms")
        if self.space == "cell" and self.evaluator == "supernet":
            raise UsageError("--space cell: the supernet is over the factorized space; "
                             "use --evaluator proxy")
        for name in ("target_ms", "target_ratio", "proxy_lr", "proxy_width"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, "
                                 f"got {getattr(self, name)}")
        pick_device(self.device)  # fail now, in one line, if there is no GPU for --device cuda
        if self.latency_table and not Path(self.latency_table).is_file():
            raise UsageError(f"--latency-table {self.latency_table}: no such file")
        return self

    def search_settings(self) -> dict:
        """What it searches: config.json less how it ran (HOW_IT_RAN), to compare runs."""
        return {k: v for k, v in self.saved().items() if k not in self.HOW_IT_RAN}

    def saved(self) -> dict:
        """config.json's contents: every setting, `adb` only for a run on a phone (so a run off
        the phone saves and compares as the runs from before it did)."""
        return {k: v for k, v in asdict(self).items() if k != "adb" or v is not None}

    def save(self, run_dir: Path) -> None:
        (run_dir / "config.json").write_text(json.dumps(self.saved(), indent=1) + "\n")

    def train_command(self, best: Path) -> str:
        """The command that trains the run's best network on the run's data, as printed."""
        data = ["--dataset", self.dataset]
        data += ["--data-dir", self.data_dir] if self.data_dir != "data" else []
        data += ["--val-size", str(self.val_size)] if self.val_size else []  # it must fit
        return shlex.join(["python", "train.py", "--arch", str(best), *data, "--epochs", "3"])

    @property
    def measured_on(self) -> str:
        """Where latencies are measured: --latency's backend; with --latency macs, on this CPU."""
        return "cpu" if self.latency == "macs" else self.latency


# ----------------------------------------------------------------------------- measured once


@dataclass
class RunConstants:
    """run.json: measured once per run and read back on resume (a resumed search keeps its T).

    `references` are the reference networks' measured latencies in ms, whatever LAT(m) is, and
    `target_ms` is T in measured ms (for a MACs run: the same multiple of MobileNetV2's measured
    latency), so any two runs compare on real latency. `lat_unit` is LAT(m)'s unit ("ms", or "M
    MACs" for --latency macs) and `target` the T of Eq. 2 in it. With a latency table,
    `table_scale` re-timed its reference and `table_fit` is the calibration it predicted with."""

    references: dict[str, float]
    target_ms: float
    target: float
    lat_unit: str = "ms"
    reference_macs: dict[str, float] = field(default_factory=dict)
    seconds_per_child: float | None = None
    table_scale: float | None = None
    table_fit: dict | None = None

    @classmethod
    def load(cls, path: Path) -> RunConstants:
        saved = json.loads(Path(path).read_text())
        old = {"lat_unit": "ms", "target": saved["target_ms"]}  # runs from before MACs as LAT
        names = {f.name for f in fields(cls)}
        return cls(**{**old, **{k: v for k, v in saved.items() if k in names}})

    def save(self, path: Path) -> None:
        data = {k: v for k, v in asdict(self).items()
                if v is not None or k not in ("table_scale", "table_fit")}
        Path(path).write_text(json.dumps(data, indent=1) + "\n")


def macs_latency(arch: Arch) -> float:
    """LAT(m) as FLOPs, the proxy MnasNet replaced with measurements (Sec. 1): the multiply-adds of
    the deployment network (224 px, 1000 classes), in millions."""
    return deployment_size(arch)["macs"] / 1e6


def backend_options(config: SearchConfig) -> dict:
    """The options of the backend the run measures on (`SearchConfig.measured_on`), as
    latency.platform_opts gives them: int8 calibrates on Fashion-MNIST images (--data-dir), adb
    times on the run's phone (--serial, --taskset, ...); the others take none."""
    if config.measured_on == "executorch-int8":
        return {"images": calibration_images(config.data_dir)}
    if config.measured_on == "adb":
        return dict(config.adb or {})
    return {}


def reference_latencies(config: SearchConfig, table) -> dict[str, float]:
    """LAT of the reference models in ms: from the table where it knows their layers, or measured
    on the backend interleaved in one run, as MobileNetV2's median and the others' ratios to it."""
    if table:
        refs = {}
        for name, arch in REFERENCE_ARCHS.items():
            try:
                refs[name] = table.predict(arch)
            except ValueError:  # a table knows only the space's layers; not all of MnasNet-A1's
                pass
        return refs
    nets = {name: build_model(arch) for name, arch in REFERENCE_ARCHS.items()}
    got = latency.measure_interleaved(nets, backend=config.measured_on, **backend_options(config))
    t_ref = got[REFERENCE].median_ms
    return {name: t_ref * latency.ratio(m, got[REFERENCE]) for name, m in got.items()}


def measure_constants(config: SearchConfig, table, path: Path,
                      seconds_per_child: Callable[[], float]) -> RunConstants:
    """run.json: read back if the run has one (`table.scale` as it was), else measured now."""
    if path.exists():
        constants = RunConstants.load(path)
        if table:
            table.scale = constants.table_scale or 1.0
        return constants
    print(f"measuring reference latencies ({config.latency_table or config.measured_on}, "
          "224 px, batch 1)...", flush=True)
    t0, table_scale, table_fit = time.time(), None, None
    if table:  # a table is in the ms of its build; re-timing MobileNetV2 puts it in today's
        table_scale = table.retime_reference(**backend_options(config))
        # which calibration predicted every child (latency_table.py --recalibrate re-fits it)
        table_fit = {"fit": table.fit,
                     "calibrated": table.info.get("calibrated", table.info.get("created"))}
    refs = {k: round(v, 3) for k, v in reference_latencies(config, table).items()}
    seconds_latency = (time.time() - t0) / len(REFERENCE_ARCHS)
    # The paper's T was "similar to MobileNetV2": by default, MobileNetV2's latency on the same
    # platform; a multiple of it (--target-ratio) stays in the run's own milliseconds.
    ratio = config.target_ratio or 1.0
    target_ms = config.target_ms or ratio * refs[REFERENCE]
    macs = {name: macs_latency(arch) for name, arch in REFERENCE_ARCHS.items()}
    macs_run = config.latency == "macs"  # T in MACs: MobileNetV2's (times --target-ratio)
    constants = RunConstants(
        references=refs, target_ms=target_ms, reference_macs=macs,
        target=ratio * macs[REFERENCE] if macs_run else target_ms,
        lat_unit="M MACs" if macs_run else "ms",
        seconds_per_child=round(seconds_per_child() / max(1, config.workers) + seconds_latency, 1),
        table_scale=table_scale, table_fit=table_fit)
    constants.save(path)
    return constants


def platform_latency(config: SearchConfig, table,
                     reference_ms: float) -> Callable[[Arch], float]:
    """A child's latency on the platform in ms: the table's prediction, or a measurement.

    A measured child is timed interleaved with MobileNetV2 in one run, and its latency reported as
    that ratio times MobileNetV2's latency at the start of the search: this machine's speed drifts
    by tens of percent over minutes, a ratio measured in one run does not. 20 rounds put the ratio
    within a few percent, which moves a soft reward (w = -0.07) by a few tenths of a percent."""
    if table:
        return table.predict
    reference, opts = build_model(REFERENCE), backend_options(config)

    def measured(arch: Arch) -> float:
        ratio = latency.relative_latency(build_model(arch), reference,
                                         backend=config.measured_on, rounds=20, **opts)
        return ratio * reference_ms
    return measured


def latency_target(config: SearchConfig, constants: RunConstants, table) -> mnas.LatencyTarget:
    """T and LAT(m) of Eq. 2: the platform's latency in ms, or (--latency macs) the MACs, each
    child's measured ms then logged beside them."""
    ms = platform_latency(config, table, constants.references[REFERENCE])
    if config.latency == "macs":
        return mnas.LatencyTarget(macs_latency, constants.target, constants.lat_unit, ms)
    return mnas.LatencyTarget(ms, constants.target, constants.lat_unit)


# ----------------------------------------------------------------------------- reading a run


@dataclass
class SearchRun:
    """A search run directory: its settings (None for a directory without config.json), its
    constants (None without run.json) and its children, as search.jsonl logs them."""

    path: Path
    config: SearchConfig | None
    constants: RunConstants | None
    children: list[mnas.Child]


def open_run(run_dir: str | Path) -> SearchRun:
    """What `python train.py --search` wrote in `run_dir`; ValueError if it has no search.jsonl."""
    run_dir = Path(run_dir)
    if not (run_dir / "search.jsonl").exists():
        raise ValueError(f"{run_dir} has no search.jsonl "
                         "(is it a train.py --search run directory?)")
    config = SearchConfig.resume(run_dir) if (run_dir / "config.json").exists() else None
    constants = RunConstants.load(run_dir / "run.json") if (run_dir / "run.json").exists() else None
    return SearchRun(run_dir, config, constants, mnas.SearchLog(run_dir / "search.jsonl").children)


# ----------------------------------------------------------------------------- while it runs


class Progress:
    """The line printed as each child finishes: its accuracy, latency and reward, the best so far
    (over a resumed run's earlier children too) and the time left."""

    def __init__(self, samples: int, logged: list[mnas.Child], lat_unit: str = "ms"):
        self.samples, self.earlier, self.count, self.started = samples, len(logged), 0, time.time()
        self.lat_unit = lat_unit
        self.best = max((c for c in logged if c.status == "ok"), key=lambda c: c.reward,
                        default=None)

    def logged(self) -> int:
        return self.earlier + self.count

    def __call__(self, child: mnas.Child) -> None:
        self.count += 1
        if child.status == "ok" and (self.best is None or child.reward > self.best.reward):
            self.best = child
        eta = (time.time() - self.started) / self.count * (self.samples - self.logged())
        what = child.status
        if child.status == "ok":
            cost = f"  LAT {child.lat:.1f} {self.lat_unit}" if self.lat_unit != "ms" else ""
            what = (f"acc {child.accuracy:.4f}  lat {child.latency_ms:7.2f} ms{cost}  "
                    f"reward {child.reward:.4f}")
        best = self.best.reward if self.best else 0
        print(f"child {child.step + 1:>4}/{self.samples}  {what}  best {best:.4f}  "
              f"({child.seconds:.0f} s, ETA {fmt_time(eta)})", flush=True)
