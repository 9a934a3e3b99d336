"""mnas.search (Sec. 4.2): the sample -> train -> measure -> reward -> update loop, its log and
resume.

These tests use cheap stand-ins for proxy training and latency so they run in seconds; the real
ones are exercised end to end in test_train.py."""

import json

import pytest

import controller
import mnas
import models

SPACE = mnas.SearchSpace()


def fake_evaluate(arch):
    """A deterministic 'accuracy' that prefers wider networks, standing in for proxy training."""
    width = sum(b.out * b.repeats for b in arch.blocks)
    return {"accuracy": min(0.99, width / 3000), "params": width, "macs": 1000 * width}


def fake_latency(arch):
    return 1.0 + sum(b.out * b.repeats * b.kernel for b in arch.blocks) / 500


def run(tmp_path, samples, batch=3, evaluate=fake_evaluate, kind="reinforce", **kw):
    ctrl = controller.make_learning_rule(kind, SPACE.decisions, seed=0)
    return mnas.search(SPACE, ctrl, evaluate, mnas.LatencyTarget(fake_latency, 20.0),
                       constraint=mnas.SOFT,
                       samples=samples, batch=batch, run_dir=tmp_path, **kw)


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def stop_after(n):
    """An evaluator that is interrupted (as by Ctrl-C or a crash) when it reaches child n."""
    calls = []

    def evaluate(arch):
        if len(calls) == n:
            raise KeyboardInterrupt
        calls.append(arch)
        return fake_evaluate(arch)
    return evaluate


def test_search_logs_every_child_with_its_reward(tmp_path):
    children = run(tmp_path, samples=7)
    lines = read_log(tmp_path / "search.jsonl")
    assert [c["step"] for c in lines] == list(range(7)) and len(children) == 7
    for c in lines:
        assert c["status"] == "ok"
        arch = SPACE.decode(c["tokens"])
        assert c["arch"] == json.loads(json.dumps(models.arch_to_dict(arch)))
        assert models.arch_from_dict(c["arch"]) == arch  # the log rebuilds the child
        # Eq. 2, soft
        assert c["reward"] == pytest.approx(c["accuracy"] * (c["latency_ms"] / 20.0) ** -0.07)


def test_resume_adds_only_the_missing_children(tmp_path):
    run(tmp_path, samples=4)
    first = (tmp_path / "search.jsonl").read_text()
    run(tmp_path, samples=6)
    text = (tmp_path / "search.jsonl").read_text()
    assert text.startswith(first) and len(text.splitlines()) == 6


def test_resumed_search_equals_an_uninterrupted_one(tmp_path):
    # Stop in the middle of a batch: the proposed batch is saved before any child trains.
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "a", samples=9, evaluate=stop_after(5))
    assert len(read_log(tmp_path / "a" / "search.jsonl")) == 5
    resumed = []
    run(tmp_path / "a", samples=9, evaluate=lambda a: resumed.append(a) or fake_evaluate(a))
    assert len(resumed) == 4  # no child is evaluated twice
    run(tmp_path / "b", samples=9)
    strip = lambda rows: [
        {k: v for k, v in r.items() if k != "seconds"} for r in rows
    ]  # noqa: E731
    assert strip(read_log(tmp_path / "a" / "search.jsonl")) == strip(
        read_log(tmp_path / "b" / "search.jsonl")
    )


def test_truncated_last_line_is_dropped_and_redone(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, samples=3, evaluate=stop_after(2))
    log = tmp_path / "search.jsonl"
    with open(log, "a") as f:
        f.write('{"step": 2, "tokens": [0, 1')  # the driver died in the middle of writing a line
    assert len(mnas.SearchLog(log).children) == 2
    run(tmp_path, samples=3)
    assert [r["step"] for r in read_log(log)] == [0, 1, 2]


def test_a_failing_child_is_logged_and_the_search_goes_on(tmp_path):
    def sometimes_nan(arch):
        if arch.blocks[0].op == "conv":
            raise FloatingPointError("loss became nan")
        return fake_evaluate(arch)

    rows = run(tmp_path, samples=12, evaluate=sometimes_nan)
    failed = [c for c in rows if c.status != "ok"]
    assert failed and len(rows) == 12
    assert all(
        c.status == "failed: FloatingPointError: loss became nan" and c.reward == 0 for c in failed
    )


@pytest.mark.parametrize("kind", ["reinforce", "ppo", "random"])
def test_every_controller_drives_the_search(tmp_path, kind):
    assert len(run(tmp_path, samples=4, kind=kind)) == 4


# ---------------------------------------------------------------------- the bookkeeping of rewards


class Recorder(controller.LearningRule):
    """Proposes fixed batches and records every update: what the controller is told."""

    def __init__(self, batches):
        super().__init__(SPACE.decisions)
        self.batches, self.updates = [list(b) for b in batches], []

    def propose(self, n):
        return self.batches[self.step][:n]

    def update(self, tokens, rewards):
        self.updates.append((tokens, rewards))
        self.step += 1
        return {}

    def state_dict(self):
        return {"step": self.step}

    def load_state_dict(self, state):
        self.step = state["step"]


def test_each_reward_reaches_the_controller_with_its_own_tokens(tmp_path):
    import random
    import time
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(0)
    batches = [[SPACE.sample(rng) for _ in range(4)] for _ in range(2)]

    def evaluate(arch):  # children finish out of order: the slowest is proposed first
        tokens = SPACE.encode(arch)
        time.sleep(0.05 * (sum(tokens) % 4))
        return {"accuracy": 0.3 + sum(tokens) / 1000, "params": 1, "macs": 1}

    def latency(arch):
        # 11-12.5 ms: below, at and above T = 12 ms
        return 11.0 + (sum(SPACE.encode(arch)) % 4) * 0.5

    ctrl = Recorder(batches)
    mnas.search(SPACE, ctrl, evaluate, mnas.LatencyTarget(latency, 12.0), constraint=mnas.HARD,
                samples=8, batch=4,
                run_dir=tmp_path, make_executor=lambda: ThreadPoolExecutor(4), max_in_flight=4)
    assert [tokens for tokens, _ in ctrl.updates] == batches  # in the order proposed
    # at T and above it
    assert {11.0 + (sum(t) % 4) * 0.5 for b in batches for t in b} >= {12.0, 12.5}
    for tokens, rewards in ctrl.updates:
        for t, r in zip(tokens, rewards):
            acc, lat = 0.3 + sum(t) / 1000, 11.0 + (sum(t) % 4) * 0.5
            # Eq. 2 with the hard constraint
            assert r == pytest.approx(acc if lat <= 12.0 else acc * 12.0 / lat)


# ----------------------------------------------------------------------------- what it replaced


def fake_macs(arch):
    """A LAT(m) other than the measured latency: fake_evaluate's 'multiply-adds', in millions."""
    return fake_evaluate(arch)["macs"] / 1e6


def test_another_lat_enters_the_reward_and_the_measured_latency_is_logged_beside_it(tmp_path):
    ctrl = controller.make_learning_rule("reinforce", SPACE.decisions, seed=0)
    macs = mnas.LatencyTarget(fake_macs, 2.0, "M MACs", measured_ms=fake_latency)
    mnas.search(SPACE, ctrl, fake_evaluate, macs, constraint=mnas.SOFT,
                samples=4, batch=2, run_dir=tmp_path)
    for c in read_log(tmp_path / "search.jsonl"):
        arch = SPACE.decode(c["tokens"])
        assert c["lat"] == fake_macs(arch) and c["latency_ms"] == fake_latency(arch) != c["lat"]
        # Eq. 2 on LAT(m), T in its units
        assert c["reward"] == pytest.approx(c["accuracy"] * (c["lat"] / 2.0) ** -0.07)
    run(tmp_path / "measured", samples=2)
    measured = read_log(tmp_path / "measured" / "search.jsonl")  # LAT(m) is the measured latency
    assert all(c["lat"] == c["latency_ms"] for c in measured)


def test_a_cell_space_search_emits_one_cell_and_resumes_as_if_uninterrupted(tmp_path):
    space = mnas.CellSpace()

    def cell_run(run_dir, evaluate=fake_evaluate):
        ctrl = controller.make_learning_rule("reinforce", space.decisions, seed=0)
        return mnas.search(space, ctrl, evaluate, mnas.LatencyTarget(fake_latency, 20.0),
                           constraint=mnas.SOFT, samples=7, batch=3, run_dir=run_dir)

    with pytest.raises(KeyboardInterrupt):
        cell_run(tmp_path / "a", stop_after(4))
    cell_run(tmp_path / "a")
    children = cell_run(tmp_path / "b")
    for c in children:
        assert len(c.tokens) == 6 and len({(b["op"], b["kernel"]) for b in c.arch["blocks"]}) == 1
    a, b = (read_log(tmp_path / d / "search.jsonl") for d in "ab")
    assert [{**r, "seconds": 0} for r in a] == [{**r, "seconds": 0} for r in b]


# ----------------------------------------------------------------------------- Eq. 3: what T does


def tokens_for_target(tmp_path, target: float, constraint: mnas.Constraint) -> list[list[int]]:
    # A large step (lr 0.05), so that any difference in the rewards shows in the children
    ctrl = controller.make_learning_rule("reinforce", SPACE.decisions, seed=0, lr=0.05)
    run_dir = tmp_path / f"{constraint.alpha}-{constraint.beta}-{target}"
    children = mnas.search(SPACE, ctrl, fake_evaluate, mnas.LatencyTarget(fake_latency, target),
                           constraint, samples=24, batch=4, run_dir=run_dir)
    return [c.tokens for c in children]


def test_a_soft_search_samples_the_same_children_whatever_t(tmp_path):
    """With alpha = beta, [LAT/T]^w = LAT^w * T^-w: T multiplies every reward by one constant,
    which the baseline follows and the RMS-scaled advantage divides out. So T cannot change a soft
    search; it matters under the hard constraint (and whenever alpha != beta)."""
    # fake_latency is 9-16 here: T = 12 splits the children, T = 1000 has them all below it
    soft = [tokens_for_target(tmp_path, t, mnas.SOFT) for t in (12.0, 1000.0)]
    assert soft[0] == soft[1]
    hard = [tokens_for_target(tmp_path, t, mnas.HARD) for t in (12.0, 1000.0)]
    assert hard[0][:4] == hard[1][:4] and hard[0] != hard[1]  # same first batch, then T matters
