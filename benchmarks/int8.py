"""What int8 costs: float against int8 test accuracy, and fp32 against int8 latency, through
ExecuTorch (the int8 platform of Sec. 5, as mobile networks ship; export.py).

Accuracy: each network is trained with the final recipe (`training.FINAL`) for `--epochs`, once
per training seed, scored on the test set in eager PyTorch (float), then exported by
`export.lower` to an fp32 and an int8 .pte (int8 calibrated on `--calibration` training images,
never test images) and each .pte scored on every test image through ExecuTorch's runtime. One
record per (network, seed) in benchmarks/results/int8.json, appended as it finishes; a training
cut short resumes from its checkpoint (as the panel's do). The unit of the comparison is the
training seed: float and int8 are paired on it (`deploy_tables.int8_accuracy`).

Latency (`--time R`, trains nothing): the networks' deployment networks (224 px, 1000 classes),
each exported in fp32 and in int8, all timed together through ExecuTorch's runtime, one thread,
round-robin (`latency.measure_programs`): one record per run in int8-timing.json, R runs. int8's
speed depends on the CPU, so each record names its int8 instructions (`export.cpu_features`).

A network is a reference name, an architecture JSON, a search run directory (its best child) or
the name of a trained network recorded in table1.json (Table 1's searched winners).

    python benchmarks/int8.py mnasnet-a1 mobilenetv2 reinforce-seed0/child-185 \\
        reinforce-seed0/child-222 --epochs 5 --seeds 3 --threads 1 --shard 1/2   # and 2/2 beside it
    python benchmarks/int8.py mnasnet-a1 mobilenetv2 reinforce-seed0/child-185 \\
        reinforce-seed0/child-222 --time 3
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import importlib.util  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the flat modules of the root
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import cli  # noqa: E402
import export  # noqa: E402 (ExecuTorch itself is imported only when used)
import latency  # noqa: E402
import panel  # noqa: E402
import records  # noqa: E402
import table1  # noqa: E402
import training  # noqa: E402
from models import (REFERENCE, Arch, arch_from_dict, arch_to_dict, build_model,  # noqa: E402
                    network_key)

INT8 = records.RESULTS / "int8.json"


def networks(specs: list[str], trained: Path = table1.TABLE1) -> dict[str, Arch]:
    """{name: arch}: a name recorded in `trained` (Table 1's) takes that record's architecture;
    anything else is what table1.py accepts (a reference name, a JSON file, a run directory)."""
    recorded = {r["name"]: arch_from_dict(r["arch"])
                for r in records.load(trained) if r.get("arch")}
    archs = {}
    for spec in specs:
        archs |= {spec: recorded[spec]} if spec in recorded else table1.contenders([spec], top=1)
    return archs


def train_resumably(out: Path, job: dict, arch: Arch, data: training.DataSpec,
                    cfg: training.TrainConfig) -> tuple[torch.nn.Module, float, int]:
    """`training.final_train` with its checkpoint beside `out` (`panel.checkpoint_path`, resumed
    if there): (the trained network, its test accuracy, the step it resumed at)."""
    checkpoint = panel.checkpoint_path(out, job, arch, cfg.device)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    resumed = torch.load(checkpoint, weights_only=True)["step"] if checkpoint.exists() else 0
    model, acc, _ = training.final_train(arch, data, replace(cfg, seed=job["seed"]), job["epochs"],
                                         progress=True, checkpoint=checkpoint)
    return model, acc, resumed


def int8_unit(model: torch.nn.Module, splits: dict, calibration: int, seed: int) -> dict:
    """The trained network as an fp32 and an int8 .pte, each scored on the test set through
    ExecuTorch's runtime."""
    images = export.calibration_images(splits["train"], calibration, seed)
    x = images[0]  # the example input torch.export traces with: a training image too
    got = {}
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        for precision in export.PRECISIONS:
            path = Path(tmp) / f"{precision}.pte"
            path.write_bytes(export.lower(model, x, precision == "int8", images))
            got[f"{precision}_accuracy"] = export.pte_accuracy(path, splits["test"], progress=True)
    return got


def deployment_programs(archs: dict[str, Arch], data: training.DataSpec, tmp: Path,
                        calibration: int = 16) -> tuple[dict[str, Path], torch.Tensor]:
    """Each network's deployment network (224 px, 1000 classes) as an fp32 and an int8 .pte in
    `tmp` ("<name>/fp32", "<name>/int8"), int8 calibrated on training images resized to 224 px
    (grey ones repeated to RGB); and the input to time them on."""
    images = export.calibration_images(training.load_splits(replace(data, input_size=224))["train"],
                                       calibration)
    images = [x.expand(-1, 3, -1, -1).contiguous() for x in images]
    programs = {}
    for name, arch in tqdm(archs.items(), desc="exporting", unit="net"):
        for precision in export.PRECISIONS:
            path = tmp / f"{len(programs)}.pte"
            int8 = precision == "int8"
            path.write_bytes(export.lower(build_model(arch), images[0], int8, images))
            programs[f"{name}/{precision}"] = path
    return programs, images[0]


def time_deployed(archs: dict[str, Arch], data: training.DataSpec, out: Path, runs: int,
                  origin: dict) -> None:
    """`runs` interleaved runs of every network in fp32 and int8 (`deployment_programs`), one
    record each (the missing runs: a stopped command resumes), with the CPU's int8 features."""
    done = [r for r in records.finished(out)  # a +dirty run is made again
            if r["networks"] == list(archs)]
    if len(done) >= runs:
        return
    with tempfile.TemporaryDirectory(prefix="int8-timing-") as tmp:
        programs, x = deployment_programs(archs, data, Path(tmp))
        for _ in tqdm(range(runs - len(done)), desc="timing together", unit="run"):
            started, load = time.time(), os.getloadavg()[0]
            got = latency.measure_programs(programs, x)
            ref = got[f"{REFERENCE}/fp32"] if f"{REFERENCE}/fp32" in got else None
            records.append(out, {
                "networks": list(archs), "archs": {n: arch_to_dict(a) for n, a in archs.items()},
                "input_size": 224, "threads": 1,
                "median_ms": {k: round(m.median_ms, 4) for k, m in got.items()},
                "int8_over_fp32": {n: round(latency.ratio(got[f"{n}/int8"], got[f"{n}/fp32"]), 4)
                                   for n in archs},
                "over_mobilenetv2_fp32":
                    {k: round(latency.ratio(m, ref), 4) for k, m in got.items()} if ref else None,
                "cpu_features": export.cpu_features(), "load": round(load, 2),
                "load_after": round(os.getloadavg()[0], 2), **records.provenance(started, origin)})


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(description=__doc__.splitlines()[0])
    p.add_argument("archs", nargs="*", metavar="NAME|JSON|RUN_DIR")
    p.add_argument("--epochs", type=float, default=5.0)
    p.add_argument("--seeds", type=cli.at_least(1), default=3)
    p.add_argument("--calibration", type=cli.at_least(1), default=128,
                   help="training images that set int8's activation ranges (default 128)")
    panel.add_training_options(p)
    p.add_argument("--shard", type=table1.shard, default=(1, 1), metavar="K/N",
                   help="train only the K-th of every N (network, seed) units (default 1/1: all)")
    p.add_argument("--time", type=cli.at_least(1), metavar="R",
                   help="train nothing: time the deployment networks in fp32 and int8, R runs")
    p.add_argument("--out", default=str(INT8))
    args = p.parse_args(argv)
    out = Path(args.out)
    try:
        if args.epochs <= 0 or not args.archs:
            raise training.UsageError("give the networks (NAME, JSON or RUN_DIR) and a positive "
                                      "--epochs")
        if importlib.util.find_spec("executorch") is None:
            raise training.UsageError("needs ExecuTorch: "
                                      "pip install -r requirements-executorch.txt")
        archs = networks(args.archs)
        data = training.DataSpec(args.dataset, args.data_dir)
        splits = training.load_splits(data)  # fail early, in one line, if the data is missing
    except (training.UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    origin = records.origin(__file__, argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.time:
        time_deployed(archs, data, out.with_name(f"{out.stem}-timing.json"), args.time, origin)
        return 0
    device = training.pick_device(args.device)
    cfg = replace(training.FINAL, threads=args.threads, device=device)
    setup = (args.epochs, args.dataset, args.calibration, device)  # this command's runs
    have = {(r["name"], network_key(arch_from_dict(r["arch"])), r["seed"])
            for r in records.finished(out)  # a +dirty record is run again
            if (r["epochs"], r["dataset"], r["calibration"], r["device"]) == setup}
    k, n = args.shard
    units = [(name, s) for s in range(args.seeds) for name in archs][k - 1::n]
    todo = [(name, s) for name, s in units if (name, network_key(archs[name]), s) not in have]
    failed = 0
    print(f"int8: {len(archs)} networks x {args.seeds} seeds, {len(todo)} to do, {args.epochs:g} "
          f"epochs each -> {out}", flush=True)
    for name, seed in tqdm(todo, desc="int8", unit="net"):
        started = time.time()
        job = {"name": name, "seed": seed, "recipe": "final", "epochs": args.epochs,
               "dataset": args.dataset}
        model, acc, resumed = train_resumably(out, job, archs[name], data, cfg)
        try:
            deployed = int8_unit(model, splits, args.calibration, seed)
        except export.ExportError as e:  # the training's checkpoint stays: fix, then run again
            tqdm.write(f"error: {name} seed {seed}: {e}", file=sys.stderr)
            failed += 1
            continue
        record = {**job, "arch": arch_to_dict(archs[name]), "device": device, "float_accuracy": acc,
                  **deployed, "calibration": args.calibration,
                  "cpu_features": export.cpu_features(),
                  **({"resumed_at_step": resumed} if resumed else {}),
                  **records.provenance(started, origin, device)}
        records.append(out, record)
        panel.checkpoint_path(out, job, archs[name], device).unlink(missing_ok=True)
        tqdm.write(f"{name:<28} seed {seed}  float {acc:.4f}  "
                   f"fp32 .pte {record['fp32_accuracy']:.4f}  "
                   f"int8 .pte {record['int8_accuracy']:.4f}  {record['wall_seconds']:.0f} s")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
