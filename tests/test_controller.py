"""Tests for controller.py (paper Sec. 4.2): the RNN policy, REINFORCE, PPO and random search.

Each test is also an example of use: propose architectures, score them, update, save, resume.
"""

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controller import PPO, Controller, RandomSearch, Reinforce, make_controller  # noqa: E402

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
    searcher = make_controller(kind, TINY, seed=0)
    stats = search(searcher, UPDATES_TO_OPTIMUM)
    assert searcher.controller.greedy() == TARGET
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
    a = make_controller(kind, TINY, seed=0)
    search(a, 3)
    torch.save(a.state_dict(), tmp_path / "search.pt")
    continued = search(a, 3)
    archs = a.propose(20)

    b = make_controller(kind, TINY, seed=123)  # a different seed: everything must come from the file
    b.load_state_dict(torch.load(tmp_path / "search.pt", weights_only=True))
    assert search(b, 3) == continued  # same samples -> same rewards -> same losses, baseline, step
    assert b.propose(20) == archs


def test_same_seed_same_architectures_different_seed_differs():
    space = MIXED * 5  # 20 decisions: two seeds colliding by chance is practically impossible
    a, b, c = (make_controller("reinforce", space, seed=s) for s in (0, 0, 1))
    torch.manual_seed(42)
    archs_a = [a.propose(4) for _ in range(3)]
    torch.rand(100)  # the global RNG is not the controller's: using it changes nothing
    archs_b = [b.propose(4) for _ in range(3)]
    assert archs_a == archs_b
    assert [c.propose(4) for _ in range(3)] != archs_a


def test_controller_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    search(make_controller("ppo", TINY, seed=0), 2)
    assert torch.equal(torch.get_rng_state(), state)


def test_random_search_has_the_same_interface():
    searcher = make_controller("random", MIXED, seed=0)
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
    with pytest.raises(ValueError, match="unknown controller"):
        make_controller("evolution", TINY)
    searcher = make_controller("reinforce", TINY)
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
