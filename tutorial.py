"""MnasNet's search loop, one step at a time: `python tutorial.py` (about 2 minutes on 2 cores).

Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019.
`python tutorial.py --quick` is a smaller run (CI). With Jupytext, every `# %%` is a notebook cell.
"""

# %% [markdown]
# ## The idea (Fig. 1, Eq. 2)
# A controller (an RNN) writes a model m as a sequence of tokens. m is trained briefly for its
# accuracy ACC(m) and run on the phone it is meant for, for its latency LAT(m). Their product
#
#     reward(m) = ACC(m) * [LAT(m) / T]^w        (Eq. 2; w = alpha if LAT(m) <= T, else beta)
#
# rewards accuracy and punishes distance above the target latency T, and the controller is
# pushed towards high-reward token sequences. Repeat: sample -> train -> measure -> reward ->
# update. Below, each of the five steps is one cell, on real Fashion-MNIST and this CPU.

# %%
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import replace

from cli import Parser, UsageError  # the standard library only: --help and a typo stay fast

parser = Parser(description="MnasNet's search loop (Fig. 1), one step at a time.")
parser.add_argument("--quick", action="store_true", help="1 update of 2 tiny children (CI)")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", default="data", help="where Fashion-MNIST is (or is unpacked)")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook passes its own
UPDATES, CHILDREN = (1, 2) if args.quick else (2, 4)  # the paper: ~8K models; here a handful
STEPS, BATCH, ROUNDS, VAL = (10, 16, 3, 500) if args.quick else (70, 16, 10, 2000)
started = time.time()
if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(line_buffering=True)  # every line at once, also into a pipe or a file

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py: before torch loads OpenMP
import torch  # noqa: E402 (after the settings: a bad argument fails fast)

import controller  # noqa: E402
import latency  # noqa: E402
import mnas  # noqa: E402
from models import REFERENCE, Arch, build_model  # noqa: E402
from training import PROXY, DataSpec, load_splits, proxy_train  # noqa: E402

latency.keep_freed_memory()  # timing as train.py times (docs/latency.md, "Freed memory")

# %% [markdown]
# ## The search space (Sec. 4.1)
# "A sequence of pre-defined blocks": seven, on the MobileNetV2 skeleton. Each block gets six
# decisions: ConvOp, KernelSize, SERatio, SkipOp, filters F_i and layers N_i. One architecture
# is one token per decision.

# %%
space = mnas.SearchSpace()
print(f"search space: {len(space.decisions)} decisions, {space.size:.2e} architectures")
# What a token means: ConvOp, KernelSize, SERatio, SkipOp, and F_i, N_i relative to MobileNetV2.
SHOW = {"conv_op": lambda v: v[0] + (str(v[1]) if v[0] == "mbconv" else ""),
        "kernel": lambda v: f"{v}x{v}", "se_ratio": lambda v: f"{v:g}", "skip": str,
        "filters": lambda v: f"{v:g}x", "layers": lambda v: f"{v:+d}"}

# %% [markdown]
# ## The platform and the target T (Sec. 3)
# The paper measures "real-world inference latency by executing the model on mobile phones"
# (a Pixel 1, one big core, batch 1, 224x224). Our platform is this CPU: one thread, batch 1,
# 224x224, each child timed interleaved with MobileNetV2 so the machine's drift cancels
# (`latency.relative_latency`, as a search does). T is MobileNetV2's latency:
# the paper's T = 75 ms was "similar to MobileNetV2".

# %%
T = latency.measure(build_model(REFERENCE), rounds=2 * ROUNDS).median_ms
ALPHA, BETA = mnas.SOFT.alpha, mnas.SOFT.beta
print(f"target T = LAT(MobileNetV2) = {T:.3f} ms on this CPU (1 thread, batch 1, 224x224)")
print(f"Eq. 3, soft constraint: w = alpha = {ALPHA} if LAT <= T, else beta = {BETA}")
data = DataSpec("fashion-mnist", args.data_dir, val_size=VAL, seed=args.seed)
try:
    load_splits(data)  # fail here, in one line, if Fashion-MNIST is missing
except UsageError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)

# %% [markdown]
# ## 1. Sample (Sec. 4.2)
# "At each step, the controller first samples a batch of models using its current parameters
# θ, by predicting a sequence of tokens based on the softmax logits from its RNN."
# The paper trains its controller with PPO; the project's default, REINFORCE, is used here.

# %%
rule = controller.make_learning_rule("reinforce", space.decisions, seed=args.seed)


def grouped(tokens: list[int]) -> str:
    """Tokens, six per block: conv_op kernel se_ratio skip filters layers."""
    return " | ".join(" ".join(map(str, tokens[i:i + 6])) for i in range(0, len(tokens), 6))


def show_tokens(tokens: list[int]) -> None:
    """Every decision of one model: name = token -> what it means (Sec. 4.1)."""
    lines = []
    for (name, _), t in zip(space.decisions, tokens):
        kind = name.split(".")[1]
        lines.append(f"{name:<15} = {t} -> {SHOW[kind](mnas.BLOCK_CHOICES[kind][t]):<9}")
    for i in range(0, len(lines), 3):
        print("    " + " ".join(lines[i:i + 3]).rstrip())


def show_arch(arch: Arch) -> None:
    """The decoded architecture, one row per block."""
    print(f"    {'block':<6}{'op':<8}{'expansion':>10}{'kernel':>7}{'SE':>6}  {'skip':<9}"
          f"{'filters':>8}{'layers':>7}")
    for i, b in enumerate(arch.blocks):
        print(f"    {i + 1:<6}{b.op:<8}{b.expansion:>10}{b.kernel:>7}{b.se_ratio:>6g}  {b.skip:<9}"
              f"{b.out:>8}{b.repeats:>7}")


def sample(iteration: int) -> tuple[list[list[int]], list[Arch]]:
    tokens = rule.propose(CHILDREN)
    print(f"\n=== iteration {iteration}/{UPDATES} (Fig. 1): "
          f"the controller samples {CHILDREN} models")
    for j, t in enumerate(tokens):
        print(f"child {j + 1}: tokens {grouped(t)}")
        if j == 0:
            show_tokens(t)
        show_arch(space.decode(t))
    return tokens, [space.decode(t) for t in tokens]


tokens, archs = sample(1)

# %% [markdown]
# ## 2. Train on the proxy task: ACC(m) (Sec. 4.2)
# "For each sampled model m, we train it on the target task to get its accuracy ACC(m)."
# The paper's proxy: 5 epochs of ImageNet. Ours: `training.PROXY` (70 SGD steps of Fashion-MNIST
# at half width) with smaller batches, scored on training images held out of training.

# %%
cfg = replace(PROXY, steps=STEPS, batch_size=BATCH, seed=args.seed)
print(f"proxy task: {cfg.steps} steps of {cfg.batch_size} Fashion-MNIST images at width "
      f"{cfg.width_mult:g}, lr {cfg.lr}; ACC(m) on {VAL} held-out training images")


def train_proxy(archs: list[Arch]) -> list[float]:
    accs = []
    for j, arch in enumerate(archs):
        t0 = time.time()
        accs.append(proxy_train(arch, data, cfg)["accuracy"])
        print(f"child {j + 1}: ACC(m) = {accs[-1]:.4f}  ({time.time() - t0:.1f} s)")
    return accs


accs = train_proxy(archs)

# %% [markdown]
# ## 3. Measure on the platform: LAT(m) (Sec. 3)
# "... and run it on real phones to get its inference latency LAT(m)." The deployment network
# (224x224, 1000 classes) is timed, not the small network trained on 28x28 images.

# %%


def measure(archs: list[Arch]) -> list[float]:
    lats = []
    for j, arch in enumerate(archs):
        ratio = latency.relative_latency(build_model(arch), build_model(REFERENCE), rounds=ROUNDS)
        lats.append(ratio * T)  # LAT/T measured, times T
        print(f"child {j + 1}: LAT(m) = {lats[-1]:.3f} ms = {lats[-1] / T:.3f} x T "
              f"(T = {T:.3f} ms)")
    return lats


lats = measure(archs)

# %% [markdown]
# ## 4. Reward (Sec. 3, Eq. 2-3)
# "maximize ACC(m) x [LAT(m)/T]^w", w = alpha if LAT(m) <= T else beta. Soft constraint:
# alpha = beta = -0.07, so a model twice as slow needs about 5% more accuracy for the same reward.

# %%


def rewards_of(accs: list[float], lats: list[float]) -> list[float]:
    rewards = []
    for j, (acc, lat) in enumerate(zip(accs, lats)):
        rewards.append(mnas.reward(acc, lat, T, ALPHA, BETA))
        w, why = (ALPHA, "w = alpha, LAT <= T") if lat <= T else (BETA, "w = beta, LAT > T")
        print(f"child {j + 1}: reward = ACC * (LAT/T)^w = {acc:.4f} * ({lat:.3f}/{T:.3f})^{w:g} "
              f"= {rewards[-1]:.4f}   ({why})")
    return rewards


rewards = rewards_of(accs, lats)

# %% [markdown]
# ## 5. Update the controller (Sec. 4.2)
# "the parameters θ of the controller are updated by maximizing the expected reward". REINFORCE
# pushes log p(tokens) up or down by the advantage A = R - b (rescaled to unit RMS), where the
# baseline b is a moving average of earlier rewards (at first, the first batch's mean).
# `update()` returns the b and A it used.

# %%


def update_controller(tokens: list[list[int]], rewards: list[float]) -> float:
    with torch.no_grad():
        before = rule.controller.log_prob(torch.tensor(tokens))[0].tolist()
    stats = rule.update(tokens, rewards)
    with torch.no_grad():
        after = rule.controller.log_prob(torch.tensor(tokens))[0].tolist()
    b, adv = stats["baseline_before"], stats["advantages"]
    print(f"baseline b = {b:.6f} (before this batch); after the update: {stats['baseline']:.6f} "
          f"(decay {rule.baseline_decay} per model)")
    print(f"{'child':<7}{'reward R':>9}{'R - b':>10}{'advantage A':>13}{'log p before':>14}"
          f"{'log p after':>13}{'change':>9}")
    for j, (r, a, lp0, lp1) in enumerate(zip(rewards, adv, before, after)):
        print(f"{j + 1:<7}{r:>9.6f}{r - b:>+10.6f}{a:>+13.3f}{lp0:>14.3f}{lp1:>13.3f}"
              f"{lp1 - lp0:>+9.3f}  p x {math.exp(lp1 - lp0):.3f}: "
              f"{'more' if lp1 > lp0 else 'less'} likely")
    score = sum(a * (lp1 - lp0) for a, lp0, lp1 in zip(adv, before, after))
    print(f"sum of A * change in log p = {score:+.4f} (> 0: the step moved probability towards "
          f"the models with A > 0)")
    return score


update_controller(tokens, rewards)

# %% [markdown]
# ## Repeat (Fig. 1)
# "We follow the well known sample-eval-update loop": the next batch comes from the updated
# controller. The paper sampled about 8K models; `python train.py --search` runs the full loop.

# %%
for iteration in range(2, UPDATES + 1):
    tokens, archs = sample(iteration)
    accs = train_proxy(archs)
    lats = measure(archs)
    rewards = rewards_of(accs, lats)
    update_controller(tokens, rewards)
print(f"\ndone: {UPDATES * CHILDREN} models in {time.time() - started:.0f} s")
# The controller's most likely model (its argmax at every decision) is what its policy believes
# after only these few samples: close to where it began, nowhere near a search's result.
print(f"the policy after {UPDATES * CHILDREN} samples; its most likely model: "
      f"{grouped(rule.greedy())}")
