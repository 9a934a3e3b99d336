"""The paper's figures, regenerated from this code and from real search runs (matplotlib, PNG).

    python figures.py fig3 --out fig3.png  # Fig. 3: reward vs latency, soft and hard
    python figures.py fig6 RUN_SOFT RUN_HARD --out fig6.png     # Fig. 6: latency of sampled models
    python figures.py fig7 mnasnet-a1 --out fig7.png  # Fig. 7: an architecture, block by block
    python figures.py pareto RUN_DIR --out pareto.png           # accuracy vs latency of a search

A RUN directory is what `python train.py --search` writes (search.jsonl, run.json), read with
run.open_run. Copied alone it needs matplotlib, numpy, mnas.py, models.py and run.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

import mnas  # noqa: E402
from cli import Parser  # noqa: E402
from models import Arch, load_arch, output_size  # noqa: E402
from run import open_run  # noqa: E402


# ----------------------------------------------------------------------------- Fig. 3 (Sec. 3)


def fig3(out: Path, acc: float = 0.5, target_ms: float = 80.0) -> None:
    """The objective of Eq. 2 as a function of latency, for a model of fixed accuracy, for the hard
    (alpha=0, beta=-1) and soft (alpha=beta=-0.07) constraints, as in the paper's Fig. 3."""
    lat = np.linspace(20, 160, 300)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, (name, c) in zip(axes, [("hard: alpha=0, beta=-1", mnas.HARD),
                                    ("soft: alpha=beta=-0.07", mnas.SOFT)]):
        ax.plot(lat, [mnas.reward(acc, x, target_ms, c.alpha, c.beta) for x in lat], lw=2)
        ax.axvline(target_ms, color="k", ls="--", lw=1)
        ax.set(title=name, xlabel="model latency (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"objective (Eq. 2), ACC={acc}")
    fig.suptitle(f"Fig. 3: objective vs latency, T = {target_ms:g} ms", fontsize=10)
    _save(fig, out)


# ----------------------------------------------------------------------------- Fig. 6 (Sec. 7.1)


def fig6(soft_run: Path, hard_run: Path, out: Path) -> None:
    """Latency of the models sampled by a soft- and a hard-constraint search (the paper's Fig. 6):
    the hard constraint focuses on fast models, the soft one samples around T and on both sides of
    it. Latency is in units of each run's T: a latency table is re-timed at the start of every run,
    so two runs' milliseconds may differ by a few percent; their ratios to T do not."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    lats, targets = {}, {}  # constraint -> each sampled model's latency / T, and T in ms
    for name, run_dir in [("soft", soft_run), ("hard", hard_run)]:
        run = open_run(run_dir)
        if not run.constants:
            raise ValueError(f"{run_dir}: no run.json with the run's T "
                             "(is it a train.py --search run directory?)")
        targets[name] = t = run.constants.target_ms
        lats[name] = [c.latency_ms / t for c in run.children if c.status == "ok"]
    # shared
    bins = np.linspace(min(map(min, lats.values())) * 0.95, max(map(max, lats.values())) * 1.02, 41)
    for (name, lat), colour in zip(lats.items(), ("tab:blue", "tab:orange")):
        ax.hist(lat, bins=bins, alpha=0.55, color=colour,
                label=f"{name} ({len(lat)} models, T = {targets[name]:.1f} ms)")
    ax.axvline(1.0, color="k", ls="--", lw=1, label="T")
    ax.set(xlabel="latency of sampled model / T", ylabel="count",
           title="Fig. 6: sampled models, soft vs hard")
    ax.legend(fontsize=8)
    _save(fig, out)


# ----------------------------------------------------------------------------- Fig. 7 (Sec. 6)

OP_COLOURS = {("conv", 1): "#f4a582", ("dconv", 1): "#92c5de", ("mbconv", 3): "#a6dba0",
              ("mbconv", 6): "#5aae61"}


def fig7(arch: Arch, out: Path, input_size: int = 224, title: str = "") -> None:
    """An architecture drawn like the paper's Fig. 7: one box per block with its op, kernel, SE and
    repeats, above the feature-map resolution it produces."""
    fig, ax = plt.subplots(figsize=(1.25 * (len(arch.blocks) + 3), 2.6))
    res = output_size(input_size, 2)
    boxes = [("stem", f"conv 3x3\n{arch.stem} ch", res, "#dddddd")]
    for b in arch.blocks:
        if not b.repeats:
            continue
        res = output_size(res, b.stride)
        name = (
            "SepConv" if b.op == "dconv" else "Conv" if b.op == "conv" else f"MBConv{b.expansion}"
        )
        se = ", SE" if b.se_ratio else ""
        boxes.append((f"{name} ({b.kernel}x{b.kernel}{se})",
                      f"x{b.repeats}  {b.out} ch\nskip: {b.skip}", res,
                      OP_COLOURS.get((b.op, b.expansion), "#cccccc")))
    boxes.append(("head", f"1x1 {arch.head}\npool, FC", 1, "#dddddd"))
    for i, (top, body, r, colour) in enumerate(boxes):
        ax.add_patch(FancyBboxPatch((i * 1.2, 0), 1.0, 1.6, boxstyle="round,pad=0.03", fc=colour,
                                    ec="k", lw=0.8))
        ax.text(i * 1.2 + 0.5, 1.2, top, ha="center", va="center", fontsize=7, weight="bold")
        ax.text(i * 1.2 + 0.5, 0.55, body, ha="center", va="center", fontsize=7)
        ax.text(i * 1.2 + 0.5, -0.25, f"{r}x{r}", ha="center", va="center", fontsize=7,
                color="grey")
        if i:
            ax.annotate("", (i * 1.2, 0.8), (i * 1.2 - 0.2, 0.8),
                        arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set(xlim=(-0.2, len(boxes) * 1.2), ylim=(-0.5, 1.8), title=title or "Fig. 7: architecture")
    ax.axis("off")
    _save(fig, out)


# ----------------------------------------------------------------------------- the search itself


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(latency, accuracy) points not beaten by a faster-and-more-accurate one, sorted by
    latency."""
    front, best = [], -np.inf
    for lat, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((lat, acc))
            best = acc
    return front


def pareto(children: list[mnas.Child], target_ms: float | None, references: dict[str, float],
           out: Path) -> None:
    """Accuracy vs latency of every child, the Pareto front, the target T and the reference
    models."""
    ok = [c for c in children if c.status == "ok"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if ok:
        sc = ax.scatter([c.latency_ms for c in ok], [c.accuracy for c in ok],
                        c=[c.step for c in ok], cmap="viridis", s=22)
        fig.colorbar(sc, label="child (order sampled)")
        ax.step(*zip(*pareto_front([(c.latency_ms, c.accuracy) for c in ok])), where="post",
                color="crimson",
                label="Pareto front")
    if target_ms:
        ax.axvline(target_ms, color="k", ls="--", lw=1, label=f"target T = {target_ms:.1f} ms")
    for name, ms in references.items():
        ax.axvline(ms, color="grey", ls=":", lw=1)
        ax.text(ms, 0.02, name, rotation=90, va="bottom", ha="right", fontsize=7, color="grey",
                transform=ax.get_xaxis_transform())
    ax.set(xlabel="latency (ms, deployment network at 224 px)", ylabel="proxy accuracy (held-out)",
           title="Sampled models vs reference models")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, out)


def reward_curve(children: list[mnas.Child], out: Path, window: int = 10) -> None:
    """Reward of each child in sampling order and its moving average: is the controller learning?"""
    rewards = np.array([c.reward for c in children], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(rewards, ".", alpha=0.5, label="reward per child")
    if len(rewards):
        avg = [rewards[max(0, i - window + 1):i + 1].mean() for i in range(len(rewards))]
        ax.plot(avg, label=f"moving average ({window})")
    ax.set(xlabel="child", ylabel="reward (Eq. 2)", title="Search progress")
    ax.legend(fontsize=8)
    _save(fig, out)


def rl_vs_random(runs: dict[str, list[list[float]]], out: Path, window: int = 30) -> None:
    """Running mean of the reward per child for each method (Sec. 4.2): one line per seed."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for (method, seeds), colour in zip(runs.items(), ("tab:blue", "tab:orange", "tab:green")):
        for k, rewards in enumerate(seeds):
            r = np.array(rewards, dtype=float)
            avg = [r[max(0, i - window + 1):i + 1].mean() for i in range(len(r))]
            ax.plot(avg, color=colour, alpha=0.8, lw=1.2, label=method if k == 0 else None)
    ax.set(xlabel="child", ylabel=f"reward, running mean of {window}",
           title="RL vs random search, same budget")
    ax.legend(fontsize=8)
    _save(fig, out)


def _save(fig, out: Path) -> None:
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = Parser(description="Regenerate the paper's figures as PNG files.")
    sub = p.add_subparsers(dest="figure", required=True)
    f3 = sub.add_parser("fig3", help="reward vs latency, soft and hard constraints (Sec. 3)")
    f3.add_argument("--acc", type=float, default=0.5)
    f3.add_argument("--target-ms", type=float, default=80.0)
    f6 = sub.add_parser("fig6", help="latency distribution of a soft and a hard search (Sec. 7.1)")
    f6.add_argument("soft_run")
    f6.add_argument("hard_run")
    f7 = sub.add_parser("fig7", help="diagram of an architecture (a name or a .json file)")
    f7.add_argument("arch")
    pa = sub.add_parser("pareto", help="accuracy vs latency of a search run")
    pa.add_argument("run")
    for s in (f3, f6, f7, pa):
        s.add_argument("--out", required=True, help="PNG file to write")
    args = p.parse_args(argv)
    try:
        out = Path(args.out)
        if not out.parent.is_dir():
            raise ValueError(f"--out: folder {out.parent} does not exist")
        if args.figure == "fig3":
            if not (0 < args.acc <= 1 and args.target_ms > 0):
                raise ValueError("--acc must be in (0, 1] and --target-ms positive")
            fig3(out, args.acc, args.target_ms)
        elif args.figure == "fig6":
            fig6(Path(args.soft_run), Path(args.hard_run), out)
        elif args.figure == "fig7":
            fig7(load_arch(args.arch), out, title=f"Fig. 7: {Path(args.arch).stem}")
        else:
            run = open_run(args.run)
            target, refs = (run.constants.target_ms, run.constants.references) if run.constants \
                else (None, {})
            pareto(run.children, target, refs, out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
