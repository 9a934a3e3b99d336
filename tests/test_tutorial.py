"""tutorial.py, run as a student runs it (`python tutorial.py --quick`): every step of Fig. 1's loop
is printed, and the printed numbers agree with each other (Eq. 2-3, the baseline, the update)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mnas
import training

ROOT = Path(__file__).resolve().parent.parent
NUM = r"([-+]?\d+(?:\.\d+)?)"
# As tests/test_train.py: skip without Debian's package (or a copy already unpacked in data/).
HAVE_DATA = (training.DEBIAN_FASHION_MNIST.exists()
             or (ROOT / "data" / "FashionMNIST" / "raw").is_dir())


def tutorial(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "tutorial.py", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def out(once) -> str:
    """What `python tutorial.py --quick` prints: run once for all the tests (and workers) here."""
    if not HAVE_DATA:
        pytest.skip("Fashion-MNIST is not installed (Debian's dataset-fashion-mnist)")

    def run(path: Path) -> None:
        result = tutorial("--quick")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        (path / "stdout.txt").write_text(result.stdout)
    return (once("tutorial", run) / "stdout.txt").read_text()


def floats(pattern: str, text: str) -> list[tuple[float, ...]]:
    return [tuple(float(g) for g in m.groups()) for m in re.finditer(pattern, text)]


def parse_tokens(text: str) -> list[int]:
    return [int(t) for t in text.replace("|", " ").split()]


def test_every_step_of_the_loop_is_printed(out):
    space = mnas.SearchSpace()
    children = len(re.findall(r"^child \d+: tokens ", out, re.M))
    assert children >= 2 and "=== iteration 1/" in out
    # 1. sampled tokens, by decision name, with their meaning (child 1 of the batch in full)
    for name, _ in space.decisions:
        assert re.search(rf"{re.escape(name)}\s+= \d -> \S+", out), name
    assert re.search(r"block3\.kernel\s+= [01] -> [35]x[35]", out)
    # ... and the decoded architecture, one row per block
    header = re.findall(r"^\s+block\s+op\s+expansion\s+kernel\s+SE\s+skip\s+filters\s+layers$",
                        out, re.M)
    assert len(header) == children
    # 2. ACC(m), 3. LAT(m) and T, 4. the reward, 5. baseline, advantage and log p change
    assert len(floats(rf"ACC\(m\) = {NUM}", out)) == children
    assert len(floats(rf"LAT\(m\) = {NUM} ms", out)) == children
    assert re.search(rf"target T = LAT\(MobileNetV2\) = {NUM} ms", out)
    assert len(re.findall(r"reward = ACC \* \(LAT/T\)\^w = ", out)) == children
    assert re.search(rf"baseline b = {NUM}", out)
    assert re.search(r"advantage A\s+log p before\s+log p after\s+change", out)
    assert re.search(r"sum of A \* change in log p = ", out)


def test_tokens_decode_to_the_printed_table(out):
    space = mnas.SearchSpace()
    row = r"^\s+(\d)\s+(\w+)\s+(\d+)\s+(\d)\s+([\d.]+)\s+(\w+)\s+(\d+)\s+(\d+)$"
    chunks = [c for c in out.split("child ") if re.match(r"\d+: tokens ", c)]
    assert chunks
    for chunk in chunks:
        tokens = parse_tokens(re.match(r"\d+: tokens ([\d |]+)\n", chunk)[1])
        rows = [r[1:] for r in re.findall(row, chunk, re.M)]
        want = [(b.op, b.expansion, b.kernel, f"{b.se_ratio:g}", b.skip, b.out, b.repeats)
                for b in space.decode(tokens).blocks]
        assert rows == [tuple(map(str, w)) for w in want]
    first = re.findall(r"(block\d\.\w+)\s+= (\d) -> ", out)[:len(space.decisions)]
    tokens = parse_tokens(re.search(r"child 1: tokens ([\d |]+)\n", out)[1])
    assert first == [(name, str(t)) for (name, _), t in zip(space.decisions, tokens)]


def test_reward_line_is_eq_2_with_w_from_eq_3(out):
    (target,) = floats(rf"target T = LAT\(MobileNetV2\) = {NUM} ms", out)[0]
    alpha, beta = floats(rf"w = alpha = {NUM} if LAT <= T, else beta = {NUM}", out)[0]
    accs = [a for (a,) in floats(rf"ACC\(m\) = {NUM}", out)]
    lats = [x for (x,) in floats(rf"LAT\(m\) = {NUM} ms", out)]
    lines = floats(rf"reward = ACC \* \(LAT/T\)\^w = {NUM} \* \({NUM}/{NUM}\)\^{NUM} = {NUM}", out)
    assert len(lines) == len(accs) == len(lats)
    for (acc, lat, t, w, printed), acc_line, lat_line in zip(lines, accs, lats):
        assert (acc, lat, t) == (acc_line, lat_line, target)  # the same numbers as the steps before
        assert w == (alpha if lat <= t else beta)  # Eq. 3
        assert abs(acc * (lat / t) ** w - printed) < 1e-4  # Eq. 2, from the printed numbers


def test_baseline_advantage_and_update(out):
    rewards = [r for *_, r in floats(rf"reward = ACC .* = {NUM}\s", out)]
    b, after, decay = floats(rf"baseline b = {NUM} \(before this batch\); after the update: {NUM} "
                             rf"\(decay {NUM} per model\)", out)[0]
    rows = floats(rf"(?m)^(\d+)\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+p x", out)
    n = len(re.findall(r"^child \d+: tokens ", out, re.M))
    batch = rows[:n]  # the first update: baseline = the batch's own mean (controller.LearningRule)
    R = [r[1] for r in batch]
    assert all(abs(r - x) < 6e-5 for r, x in zip(R, rewards[:n]))  # the rewards just computed
    assert abs(b - sum(R) / n) < 2e-6
    rms = math.sqrt(sum((r - b) ** 2 for r in R) / n)
    for _, r, r_minus_b, adv, lp0, lp1, change in batch:
        assert abs(r_minus_b - (r - b)) < 2e-6
        assert abs(adv - (r - b) / rms) < 0.002 + 1e-5 / rms  # A = (R - b) / RMS
        assert abs(change - (lp1 - lp0)) < 2e-3
    ema = b
    for r in R:  # the moving average advanced once per model, once per update: not twice
        ema = decay * ema + (1 - decay) * r
    assert abs(ema - after) < 2e-6
    # One Adam step from fresh moments moves every weight by -lr * sign(gradient) of
    # -mean(A * log p) - entropy_weight * entropy: sum(A * change) > 0 is the first-order effect.
    score = sum(adv * change for _, _, _, adv, _, _, change in batch)
    assert score > 0
    (printed,) = floats(rf"sum of A \* change in log p = {NUM}", out)[0]
    assert abs(printed - score) < 0.01


@pytest.mark.parametrize("argv", [["--bogus"], ["--seed", "x"], ["--quick", "extra"]])
def test_bad_command_line_is_one_line_and_status_2(argv):
    result = tutorial(*argv, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
