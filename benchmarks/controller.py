"""Benchmark the search algorithm alone (paper Sec. 4.2) on a cheap synthetic objective.

Training and timing a real network per sample costs minutes; this replaces it with a score that
costs nothing, so the controller's learning can be checked in seconds over many seeds. The
search space is the real one: 7 blocks x 6 decisions = 42 tokens in mnas.SearchSpace's order
(ConvOp 4, kernel 2, SE 2, skip 3, filters 3, layers 3). For each seed a hidden target
architecture is drawn at random and

    reward(tokens) = fraction of the 42 decisions equal to the target's + N(0, sigma^2),

so the optimum is 1.0 (noise-free) and the noise stands in for the run-to-run noise of proxy
training. REINFORCE, PPO and random search each get the same budget of sampled architectures,
with the default hyperparameters of controller.py (which were tuned here; see its docstring).
A method's "best" is the architecture with the highest *observed* (noisy) reward, reported by
its noise-free score; a win means that score beats random search's best for the same seed.

    python benchmarks/controller.py [--seeds 10] [--budget 500] [--batch 10] [--sigma 0.02]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # flat modules live in the repo root
from controller import make_controller  # noqa: E402

METHODS = ("reinforce", "ppo", "random")


def mnasnet_decisions(num_blocks: int = 7) -> list[tuple[str, int]]:
    """The MnasNet search space's decisions (Sec. 4.1), in mnas.SearchSpace's order."""
    per_block = [("conv_op", 4), ("kernel", 2), ("se_ratio", 2), ("skip", 3), ("filters", 3), ("layers", 3)]
    return [(f"block{b}.{name}", n) for b in range(1, num_blocks + 1) for name, n in per_block]


def run(kind: str, decisions: list[tuple[str, int]], target: torch.Tensor, seed: int, budget: int, batch: int, sigma: float) -> dict:
    """One search; returns the noise-free score of the best observed arch and of the last 50 samples."""
    searcher = make_controller(kind, decisions, seed=seed)
    noise = torch.Generator().manual_seed(10_000 + seed)  # same noise stream for every method
    best_obs, best_true, trues = -float("inf"), 0.0, []
    while len(trues) < budget:
        tokens = searcher.propose(min(batch, budget - len(trues)))
        true = (torch.tensor(tokens) == target).float().mean(dim=1)  # (n,) fraction matching
        observed = true + sigma * torch.randn(true.shape, generator=noise)
        searcher.update(tokens, observed.tolist())
        i = int(observed.argmax())
        if observed[i] > best_obs:
            best_obs, best_true = observed[i].item(), true[i].item()
        trues += true.tolist()
    return {"best_obs": best_obs, "best": best_true, "last50": sum(trues[-50:]) / len(trues[-50:])}


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # bad input: one line on stderr, exit status 2 (no usage dump)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (targets), >= 1")
    parser.add_argument("--budget", type=int, default=500, help="sampled architectures per search, >= 1")
    parser.add_argument("--batch", type=int, default=10, help="architectures per controller update, >= 1")
    parser.add_argument("--sigma", type=float, default=0.02, help="std of the Gaussian reward noise, >= 0")
    args = parser.parse_args(argv)
    for name, low in (("seeds", 1), ("budget", 1), ("batch", 1), ("sigma", 0)):
        if not getattr(args, name) >= low:  # "not >=" also catches nan
            parser.error(f"--{name} must be >= {low}, got {getattr(args, name)}")
    torch.set_num_threads(1)  # tiny ops: threads only add overhead
    decisions = mnasnet_decisions()
    print(f"{len(decisions)} decisions, budget {args.budget} archs in batches of {args.batch}, "
          f"reward = fraction of decisions matching a hidden target + N(0, {args.sigma}^2); optimum 1.0")
    r, p = make_controller("reinforce", decisions), make_controller("ppo", decisions)
    print(f"controllers use their defaults: REINFORCE lr {r.optimizer.param_groups[0]['lr']}; PPO lr "
          f"{p.optimizer.param_groups[0]['lr']}, {p.epochs} epochs, clip {p.clip}; entropy weight "
          f"{r.entropy_weight}; baseline decay {r.baseline_decay} per architecture")
    print("best = noise-free score of the arch with the best observed (noisy) reward; last50 = mean noise-free\n"
          "score of the last 50 samples; within5pct: best >= 0.95; win: best > random search's best, same seed")
    print(f"{'seed':>4} {'method':>9} {'best_obs':>8} {'best':>6} {'last50':>6} {'time_s':>6}")
    wins = {"reinforce": 0, "ppo": 0}
    within = {"reinforce": 0, "ppo": 0}
    for seed in range(args.seeds):
        g = torch.Generator().manual_seed(seed)
        target = torch.stack([torch.randint(n, (), generator=g) for _, n in decisions])  # (42,)
        res = {}
        for kind in METHODS:
            t0 = time.perf_counter()
            res[kind] = run(kind, decisions, target, seed, args.budget, args.batch, args.sigma)
            r = res[kind]
            print(f"{seed:>4} {kind:>9} {r['best_obs']:>8.3f} {r['best']:>6.3f} {r['last50']:>6.3f} "
                  f"{time.perf_counter() - t0:>6.1f}")
        for kind in wins:
            wins[kind] += res[kind]["best"] > res["random"]["best"]
            within[kind] += res[kind]["best"] >= 0.95  # within 5% of the optimum 1.0
    n = args.seeds
    print(f"reinforce_within5pct={within['reinforce']}/{n} ppo_within5pct={within['ppo']}/{n}")
    print(f"reinforce_wins={wins['reinforce']}/{n} ppo_wins={wins['ppo']}/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
