"""Tests for controller.py (paper Sec. 4.2): the RNN policy, REINFORCE, PPO and random search.

Each test is also an example of use: propose architectures, score them, update, save, resume.
"""

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controller import PPO, Controller, RandomSearch, Reinforce, make_learning_rule  # noqa: E402

TINY = [("a", 3), ("b", 3), ("c", 3)]  # 27 architectures
TARGET = [2, 0, 1]
UPDATES_TO_OPTIMUM = 40  # batches of 10 with the default hyperparameters (both need ~15-25)
MIXED = [("block1.conv_op", 4), ("block1.kernel", 2), ("block1.skip", 3), ("block2.conv_op", 4)]


def tiny_reward(tokens: list[int]) -> float:
    """Fraction of decisions equal to the hidden target: 1.0 only at the optimum."""
    return sum(t == g for t, g in zip(tokens, TARGET)) / len(TARGET)


def search(searcher, updates: int, batch: int = 10, reward=tiny_reward) -> list[dict]:
    """The search loop every searcher plugs into; returns the stats of each update."""
    stats = []
    for _ in range(updates):
        archs = searcher.propose(batch)
        stats.append(searcher.update(archs, [reward(a) for a in archs]))
    return stats


@pytest.mark.parametrize("kind", ["reinforce", "ppo"])
def test_policy_gradient_finds_the_optimum_of_a_tiny_space(kind):
    searcher = make_learning_rule(kind, TINY, seed=0)
    stats = search(searcher, UPDATES_TO_OPTIMUM)
    assert searcher.greedy() == searcher.controller.greedy() == TARGET  # the policy's argmax
    archs = searcher.propose(100)
    assert sum(a == TARGET for a in archs) >= 90  # the policy samples the optimum most of the time
    assert stats[-1]["entropy"] < 0.5 * 3 * math.log(3)  # far from the uniform policy it began as


def test_uniform_policy_log_prob_and_entropy():
    controller = Controller(MIXED, hidden=16, seed=0)
    with torch.no_grad():
        for head in controller.heads:  # zero logits -> every choice equally likely
            head.weight.zero_()
            head.bias.zero_()
    tokens, log_prob, entropy = controller.sample(5)
    expected = sum(math.log(n) for _, n in MIXED)  # log 4 + log 2 + log 3 + log 4
    assert tokens.shape == (5, len(MIXED)) and tokens.dtype == torch.long
    torch.testing.assert_close(log_prob, torch.full((5,), -expected))
    torch.testing.assert_close(entropy, torch.full((5,), expected))


def test_log_prob_rescores_samples_with_gradients():
    controller = Controller(MIXED, hidden=16, temperature=2.0, tanh_constant=2.5, seed=3)
    tokens, log_prob, entropy = controller.sample(8)
    log_prob2, entropy2 = controller.log_prob(tokens)
    torch.testing.assert_close(log_prob2, log_prob)
    torch.testing.assert_close(entropy2, entropy)
    log_prob2.sum().backward()
    assert controller.heads[0].weight.grad is not None and controller.start.grad is not None


def test_first_ppo_ratio_is_exactly_one():
    # The old log-probs are those of the policy that sampled the batch, so before the first
    # gradient step new / old = 1 for every architecture; later epochs move away from 1.
    ppo = PPO(TINY, seed=0)
    for stats in search(ppo, 3):
        assert stats["first_ratio"] == 1.0
        assert 0.0 <= stats["clip_fraction"] <= 1.0


@pytest.mark.parametrize("kind", ["reinforce", "ppo", "random"])
def test_save_and_load_resume_the_same_search(kind, tmp_path):
    a = make_learning_rule(kind, TINY, seed=0)
    search(a, 3)
    torch.save(a.state_dict(), tmp_path / "search.pt")
    continued = search(a, 3)
    archs = a.propose(20)

    # a different seed: everything must come from the file
    b = make_learning_rule(kind, TINY, seed=123)
    b.load_state_dict(torch.load(tmp_path / "search.pt", weights_only=True))
    assert search(b, 3) == continued  # same samples -> same rewards -> same losses, baseline, step
    assert b.propose(20) == archs


def test_same_seed_same_architectures_different_seed_differs():
    space = MIXED * 5  # 20 decisions: two seeds colliding by chance is practically impossible
    a, b, c = (make_learning_rule("reinforce", space, seed=s) for s in (0, 0, 1))
    torch.manual_seed(42)
    archs_a = [a.propose(4) for _ in range(3)]
    torch.rand(100)  # the global RNG is not the controller's: using it changes nothing
    archs_b = [b.propose(4) for _ in range(3)]
    assert archs_a == archs_b
    assert [c.propose(4) for _ in range(3)] != archs_a


def test_controller_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    search(make_learning_rule("ppo", TINY, seed=0), 2)
    assert torch.equal(torch.get_rng_state(), state)


def test_random_search_has_the_same_interface():
    searcher = make_learning_rule("random", MIXED, seed=0)
    assert searcher.greedy() is None  # no policy: nothing it believes
    assert isinstance(searcher, RandomSearch)
    archs = searcher.propose(200)
    assert len(archs) == 200 and all(isinstance(t, int) for t in archs[0])
    for i, (_, n) in enumerate(MIXED):
        assert {a[i] for a in archs} == set(range(n))  # in range, and every choice shows up
    stats = searcher.update(archs, [0.5] * 200)
    learned = Reinforce(MIXED, seed=0).update(archs, [0.5] * 200)
    assert set(learned) <= set(stats) | {"first_ratio", "clip_fraction"}
    assert stats["step"] == 1 and stats["loss"] == 0.0


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="unknown learning rule"):
        make_learning_rule("evolution", TINY)
    searcher = make_learning_rule("reinforce", TINY)
    with pytest.raises(ValueError):
        searcher.update([[0, 1]], [1.0])  # one token short
    with pytest.raises(ValueError):
        searcher.update([[0, 1, 3]], [1.0])  # choice 3 of a 3-way decision
    with pytest.raises(ValueError):
        searcher.update([[0, 1, 2], [0, 0, 0]], [1.0])  # two archs, one reward


def test_ppo_clipping_limits_how_far_one_batch_moves_the_policy():
    def moved(clip):  # p(token 0) after / before one update of 20 epochs that favours token 0
        ppo = PPO([("d", 2)], lr=0.003, clip=clip, epochs=20, entropy_weight=0.0, seed=0)
        token = torch.tensor([[0]])
        before = ppo.controller.log_prob(token)[0].exp().item()
        ppo.update([[0], [0], [1], [1]], [1.0, 1.0, 0.0, 0.0])
        return ppo.controller.log_prob(token)[0].exp().item() / before

    clipped, unclipped = moved(0.2), moved(1e9)
    assert 1.0 < clipped < unclipped - 0.1


def policy(searcher, tokens) -> list[float]:
    """p(tokens) under the searcher's current policy."""
    return searcher.controller.log_prob(torch.tensor(tokens))[0].exp().tolist()


@pytest.mark.parametrize("kind", ["reinforce", "ppo"])
def test_each_update_moves_good_architectures_up_and_bad_ones_down(kind):
    searcher = make_learning_rule(kind, TINY, seed=0, entropy_weight=0.0)
    good, bad = [[2, 0, 1], [2, 0, 0]], [[0, 1, 2], [1, 2, 2]]
    before = policy(searcher, good + bad)
    searcher.update(good + bad, [1.0, 1.0, 0.0, 0.0])
    after = policy(searcher, good + bad)
    assert all(a > b for a, b in zip(after[:2], before[:2]))  # positive advantage: more likely
    assert all(a < b for a, b in zip(after[2:], before[2:]))  # negative advantage: less likely
    # A batch of only bad (or only good) architectures against the moving baseline moves them by
    # itself,
    # not only through the probability the other direction takes away (PPO: both sides of the clip).
    for archs, r in ((bad, 0.0), (good, 1.0)):
        searcher = make_learning_rule(kind, TINY, seed=0, entropy_weight=0.0)
        searcher.update(good + bad, [1.0 - r] * 4)  # the baseline starts at 1 - r
        before = policy(searcher, archs)
        searcher.update(archs, [r, r])
        moved = [a / b for a, b in zip(policy(searcher, archs), before)]
        assert all(m < 0.99 for m in moved) if r == 0.0 else all(m > 1.01 for m in moved)


@pytest.mark.parametrize("kind", ["reinforce", "ppo"])
def test_the_entropy_bonus_spreads_the_policy(kind):
    searcher = make_learning_rule(kind, TINY, seed=0, entropy_weight=0.5)
    tokens = searcher.propose(8)

    def entropy() -> float:
        return searcher.controller.log_prob(torch.tensor(tokens))[1].mean().item()

    start = entropy()
    for _ in range(3):
        # equal rewards: no advantage, only the bonus acts
        searcher.update(tokens, [0.5] * len(tokens))
    assert entropy() > start


@pytest.mark.parametrize("kind", ["reinforce", "ppo", "random"])
def test_the_baseline_is_a_moving_average_and_updates_are_counted(kind):
    searcher = make_learning_rule(kind, TINY, seed=0,
                                  **({} if kind == "random" else {"baseline_decay": 0.5}))
    # the first batch's mean starts the average
    first = searcher.update([[0, 0, 0], [1, 1, 1]], [1.0, 1.0])
    second = searcher.update([[0, 0, 0]], [0.0])
    decay = 0.95 if kind == "random" else 0.5
    assert first["baseline"] == 1.0 and second["baseline"] == pytest.approx(decay)
    assert (first["step"], second["step"], searcher.state_dict()["step"]) == (1, 2, 2)


@pytest.mark.parametrize("kind", ["reinforce", "ppo"])
def test_an_update_reports_the_baseline_and_advantages_it_used(kind):
    searcher = make_learning_rule(kind, TINY, seed=0, baseline_decay=0.5)
    searcher.update([[0, 0, 0], [1, 1, 1]], [0.6, 0.8])  # baseline 0.7, then 0.7 -> 0.65 -> 0.725
    stats = searcher.update([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [0.5, 0.9, 0.725])
    assert stats["baseline_before"] == pytest.approx(0.725)  # b from before this batch
    raw = [0.5 - 0.725, 0.9 - 0.725, 0.0]
    rms = math.sqrt(sum(a * a for a in raw) / 3)
    assert stats["advantages"] == pytest.approx([a / rms for a in raw], abs=1e-5)  # (R - b) / RMS


def test_make_learning_rule_passes_the_seed_and_the_settings_on():
    for kind in ("reinforce", "ppo", "random"):
        assert make_learning_rule(kind, TINY, seed=5).propose(4) == make_learning_rule(
            kind, TINY, seed=5
        ).propose(4)
        assert make_learning_rule(kind, TINY, seed=5).propose(4) != make_learning_rule(
            kind, TINY, seed=0
        ).propose(4)
    assert make_learning_rule("reinforce", TINY, lr=0.123).optimizer.param_groups[0]["lr"] == 0.123
    ppo = make_learning_rule("ppo", TINY, lr=0.01, entropy_weight=0.5, clip=0.3)
    assert (ppo.optimizer.param_groups[0]["lr"], ppo.entropy_weight, ppo.clip) == (0.01, 0.5, 0.3)


def test_temperature_and_tanh_constant_flatten_the_policy():
    uniform = -math.log(27)
    for kw in ({"temperature": 1e4}, {"tanh_constant": 1e-4}):
        searcher = Reinforce(TINY, seed=0, **kw)
        # a strong preference ...
        searcher.controller.heads[0].bias.data += 5.0 * torch.tensor([1.0, 0.0, 0.0])
        assert searcher.controller.log_prob(torch.tensor([[0, 0, 0]]))[0].item() == pytest.approx(
            uniform, abs=1e-3
        )  # ... flattened


def test_controller_remembers_earlier_decisions():
    # p(c | a, b) must depend on a, not only on the previous choice b: the LSTM carries its state
    # along.
    ctrl = Controller([("a", 2), ("b", 2), ("c", 2)], seed=0)

    def p(tokens: list[int]) -> float:
        return ctrl.log_prob(torch.tensor([tokens]))[0].exp().item()

    p_c0 = [p([a, 0, 0]) / (p([a, 0, 0]) + p([a, 0, 1])) for a in (0, 1)]  # p(c = 0 | a, b = 0)
    assert abs(p_c0[0] - p_c0[1]) > 1e-4


def test_decisions_need_at_least_one_choice_each():
    assert Controller([("only", 1), ("b", 3)]).greedy()[0] == 0  # a fixed decision is allowed
    for bad in ([], [("a", 0)], [("a", 2), ("b", 0)]):
        with pytest.raises(ValueError,
                           match="at least one decision, each with at least one choice"):
            Controller(bad)
