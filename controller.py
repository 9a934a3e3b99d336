"""The search algorithm (paper Sec. 4.2): an RNN controller that writes architectures, trained by
policy gradient.

MnasNet's controller is NASNet's (Zoph & Le 2017; Zoph et al. 2018): a recurrent network emits an
architecture as a sequence of tokens, one softmax per decision of the search space, and feeds
each sampled choice back as its next input. Every sampled model is trained and timed, its reward
(Eq. 2) scores the whole token sequence, and a learning rule pushes the controller towards
high-reward sequences. The paper trains it with PPO (Schulman et al. 2017) and gives no
hyperparameters; REINFORCE (Williams 1992) and random search are the baselines to compare with.

    Controller    the RNN policy p(tokens): an LSTMCell, one softmax head and one embedding per
                  decision; sample(n), log_prob(tokens), greedy().
    LearningRule  what the search loop sees: propose(n) tokens, update(tokens, rewards), greedy()
                  (None when there is no policy), state_dict(); one of:
      Reinforce     the policy gradient with a moving-average baseline and an entropy bonus
      PPO           the same advantages, on PPO's clipped surrogate, several epochs per batch
      RandomSearch  every decision uniform; learns nothing

    rule = make_learning_rule("ppo", space.decisions, seed=0)  # decisions: [(name, n_choices)]
    for _ in range(num_updates):
        tokens = rule.propose(8)                   # one int per decision, per architecture
        rewards = [evaluate(t) for t in tokens]    # e.g. ACC(m) * (LAT(m) / T)^w, Eq. 2
        stats = rule.update(tokens, rewards)       # {"loss", "baseline", "advantages", ...}
    torch.save(rule.state_dict(), "rule.pt")       # loads with weights_only=True; resumes exactly

propose() remembers nothing (PPO's old log-probabilities are recomputed in update(), where alone
the policy changes), and each rule draws from its own seeded torch.Generator, never the global
RNG. Where the defaults come from: docs/engineering.md, "How the defaults were chosen".

Copied alone it needs torch and nothing else of this project.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

Decisions = list[tuple[str, int]]  # ordered (name, number_of_choices), e.g. ("block1.kernel", 2)


class Controller(nn.Module):
    """The RNN policy: p(tokens) = prod_i p(token_i | token_<i), one LSTMCell step per decision."""

    def __init__(self, decisions: Decisions, hidden: int = 64, temperature: float = 1.0,
                 tanh_constant: float | None = None, seed: int = 0):
        super().__init__()
        if len(decisions) == 0 or any(n < 1 for _, n in decisions):
            raise ValueError("need at least one decision, each with at least one choice")
        self.decisions = [(str(name), int(n)) for name, n in decisions]
        self.temperature = temperature
        # ENAS uses 2.5: logits stay in [-2.5, 2.5], so p never collapses to 0/1
        self.tanh_constant = tanh_constant
        # layers' default init draws from the global RNG; keep it untouched
        with torch.random.fork_rng(devices=[]):
            # learned input for the first decision
            self.start = nn.Parameter(torch.zeros(1, hidden))
            self.lstm = nn.LSTMCell(hidden, hidden)
            # One head and one embedding per decision: decisions differ in meaning and in number
            # of choices, so nothing is shared between them except the LSTM's memory. (The last
            # decision's embedding is never fed anywhere; it is kept so that index i always
            # means decision i.)
            self.heads = nn.ModuleList(nn.Linear(hidden, n) for _, n in self.decisions)
            self.embeds = nn.ModuleList(nn.Embedding(n, hidden) for _, n in self.decisions)
        # Private random stream: initialisation and sampling never touch torch's global RNG.
        self.generator = torch.Generator().manual_seed(seed)
        for p in self.parameters():  # ENAS init: small uniform weights -> near-uniform first policy
            nn.init.uniform_(p, -0.1, 0.1, generator=self.generator)

    def _logits(self, h: torch.Tensor, i: int) -> torch.Tensor:
        logits = self.heads[i](h) / self.temperature  # (n, choices_i)
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _run(self, n: int, tokens: torch.Tensor | None = None, greedy: bool = False):
        """Unroll over all decisions; sample (tokens=None) or re-score given tokens (n, D)."""
        x = self.start.expand(n, -1)  # (n, hidden)
        state = None  # LSTMCell starts from zeros
        chosen, log_prob, entropy = [], 0.0, 0.0
        for i in range(len(self.decisions)):
            state = self.lstm(x, state)
            logp = F.log_softmax(self._logits(state[0], i), dim=-1)  # (n, choices_i)
            if tokens is not None:
                c = tokens[:, i]
            elif greedy:
                c = logp.argmax(dim=-1)
            else:
                c = torch.multinomial(logp.exp(), 1, generator=self.generator).squeeze(1)
            # (n,) summed over decisions
            log_prob = log_prob + logp.gather(1, c[:, None]).squeeze(1)
            entropy = entropy + -(logp.exp() * logp).sum(-1)               # (n,)
            x = self.embeds[i](c)  # the choice just made is the next step's input
            chosen.append(c)
        return torch.stack(chosen, dim=1), log_prob, entropy

    @torch.no_grad()
    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n architectures: tokens (n, D) long, log_prob (n,), entropy (n,) (no gradients)."""
        return self._run(n)

    def log_prob(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Re-score given tokens (n, D): log_prob (n,) and entropy (n,), with gradients."""
        _, log_prob, entropy = self._run(tokens.shape[0], tokens=tokens)
        return log_prob, entropy

    @torch.no_grad()
    def greedy(self) -> list[int]:
        """The most likely architecture, decoded one argmax at a time (what the policy
        'believes')."""
        return self._run(1, greedy=True)[0][0].tolist()


class LearningRule:
    """What the search loop sees: propose architectures, learn from their rewards, save and
    resume."""

    def __init__(self, decisions: Decisions, baseline_decay: float = 0.95):
        self.decisions = [(str(name), int(n)) for name, n in decisions]
        self.step = 0  # number of update() calls so far
        self.baseline_decay = baseline_decay
        # moving average of rewards; the first batch's mean at first
        self.baseline: float | None = None

    def propose(self, n: int) -> list[list[int]]:
        raise NotImplementedError

    def greedy(self) -> list[int] | None:
        """The policy's most likely architecture; None for a rule without a policy (random)."""
        return None

    def update(self, tokens: list[list[int]], rewards: list[float]) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    def _as_tensors(self, tokens, rewards) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate a batch: tokens (n, D) long within each decision's range, rewards (n,) float."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        rewards = torch.as_tensor(rewards, dtype=torch.float32).flatten()
        D = len(self.decisions)
        if (
            tokens.ndim != 2
            or tokens.shape[1] != D
            or tokens.shape[0] != rewards.shape[0]
            or len(rewards) == 0
        ):
            raise ValueError(f"need tokens (n, {D}) and n rewards; got {tuple(tokens.shape)} and "
                             f"{len(rewards)}")
        limits = torch.tensor([n for _, n in self.decisions])
        if (tokens < 0).any() or (tokens >= limits).any():
            raise ValueError("token out of range for its decision")
        return tokens, rewards

    def _advance_baseline(self, rewards: torch.Tensor) -> float:
        """Fold a batch into the moving average; return the baseline from *before* the batch."""
        if self.baseline is None:
            self.baseline = rewards.mean().item()
        before = self.baseline
        # b <- decay * b + (1 - decay) * R, once per architecture (as in NASNet/ENAS, where each
        # update sees one), so its memory (~1 / (1 - decay) architectures) does not depend on the
        # batch size. Departure: the paper gives no baseline; this is REINFORCE's usual one.
        for r in rewards.tolist():
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * r
        return before


class Reinforce(LearningRule):
    """REINFORCE (Williams 1992) with a moving-average baseline and an entropy bonus, as in Zoph &
    Le 2017."""

    def __init__(self, decisions: Decisions, hidden: int = 64, temperature: float = 1.0,
                 tanh_constant: float | None = None, lr: float = 0.004,
                 entropy_weight: float = 0.003,
                 baseline_decay: float = 0.95, normalize_advantage: bool = True, seed: int = 0):
        super().__init__(decisions, baseline_decay)
        self.controller = Controller(self.decisions, hidden, temperature, tanh_constant, seed)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.entropy_weight = entropy_weight
        self.normalize_advantage = normalize_advantage

    def propose(self, n: int) -> list[list[int]]:
        tokens, _, _ = self.controller.sample(n)
        return tokens.tolist()

    def greedy(self) -> list[int]:
        return self.controller.greedy()

    def _advantage(self, rewards: torch.Tensor) -> tuple[torch.Tensor, float]:
        """A = R - b, and b; b predates this batch, so subtracting it cuts variance without adding
        bias."""
        b = self._advance_baseline(rewards)
        adv = rewards - b  # A_k = R_k - b  (n,)
        if self.normalize_advantage:
            # A_k <- A_k / sqrt(mean_k A_k^2): unit root-mean-square (the baseline already
            # centres), so that rewards of any scale (accuracy 0.70 +- 0.01, a toy score) give
            # steps of one size. Not the std: equal rewards away from b would divide by ~0.
            # Departure: the paper says nothing of scaling. It also makes a soft search blind to
            # T: with alpha = beta, T multiplies every reward by one constant, which cancels here.
            adv = adv / (adv.pow(2).mean().sqrt() + 1e-8)
        return adv, b

    def _optimize(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def update(self, tokens: list[list[int]], rewards: list[float]) -> dict:
        tokens, rewards = self._as_tensors(tokens, rewards)
        adv, b = self._advantage(rewards)
        log_prob, entropy = self.controller.log_prob(tokens)
        # The policy gradient with a baseline (Williams 1992): grad J = E[A * grad log p(tokens)],
        # so minimizing -mean(A * log p) makes a sequence more probable when A > 0, less when A < 0.
        # Entropy bonus (Williams & Peng 1991; departure: not in the paper): - c * H(p) keeps the
        # policy from collapsing onto early choices before the rewards have told it anything.
        loss = -(adv * log_prob).mean() - self.entropy_weight * entropy.mean()
        self._optimize(loss)
        self.step += 1
        return {"loss": loss.item(), "baseline": self.baseline, "entropy": entropy.mean().item(),
                "mean_reward": rewards.mean().item(), "step": self.step,
                "baseline_before": b, "advantages": adv.tolist()}  # the b and A this update used

    def state_dict(self) -> dict:
        # Only tensors, dicts, lists, numbers and None: loads with torch.load(weights_only=True).
        return {"model": self.controller.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.controller.generator.get_state(), "baseline": self.baseline,
                "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.controller.generator.set_state(state["generator"])
        self.baseline, self.step = state["baseline"], state["step"]


class PPO(Reinforce):
    """Proximal Policy Optimization (Schulman et al. 2017), the controller update MnasNet uses.

    REINFORCE takes one gradient step per batch of (expensive) rewards. PPO takes several, on
    the surrogate min(r * A, clip(r, 1 - eps, 1 + eps) * A) with r = p_new(tokens) / p_old(tokens):
    once r has moved more than eps in the direction an architecture's advantage asks for, that
    architecture's gradient is zero, so reusing the batch cannot run the policy far from where
    the batch was sampled. At r = 1 the surrogate's gradient equals REINFORCE's. The old
    log-probs are recomputed here (see the module docstring), so stats["first_ratio"] is exactly 1.
    """

    def __init__(self, decisions: Decisions, lr: float = 0.0015, clip: float = 0.2, epochs: int = 3,
                 **kw):
        super().__init__(decisions, lr=lr, **kw)  # ~REINFORCE's lr / epochs: as far per batch
        self.clip, self.epochs = clip, epochs

    def update(self, tokens: list[list[int]], rewards: list[float]) -> dict[str, float]:
        tokens, rewards = self._as_tensors(tokens, rewards)
        adv, b = self._advantage(rewards)
        with torch.no_grad():  # the sampling policy; unchanged since propose(), so exact
            old_log_prob, _ = self.controller.log_prob(tokens)
        for epoch in range(self.epochs):
            log_prob, entropy = self.controller.log_prob(tokens)
            ratio = torch.exp(log_prob - old_log_prob)  # r = p_new / p_old  (n,); 1 in epoch 0
            # PPO's clipped surrogate (Schulman et al. 2017, Eq. 7):
            # L = mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A)), maximized (minus it minimized),
            # with the same entropy bonus as REINFORCE's.
            surrogate = torch.min(ratio * adv, ratio.clamp(1 - self.clip, 1 + self.clip) * adv)
            loss = -surrogate.mean() - self.entropy_weight * entropy.mean()
            self._optimize(loss)
            if epoch == 0:
                first_ratio = ratio.mean().item()
        # last epoch, like loss/entropy
        clipped = ((ratio - 1).abs() > self.clip).float().mean().item()
        self.step += 1
        return {"loss": loss.item(), "baseline": self.baseline, "entropy": entropy.mean().item(),
                "mean_reward": rewards.mean().item(), "step": self.step,
                "first_ratio": first_ratio, "clip_fraction": clipped,
                "baseline_before": b, "advantages": adv.tolist()}


class RandomSearch(LearningRule):
    """Every decision uniform and independent; update() learns nothing. The baseline to beat.

    It keeps the same moving average of rewards as the learners, only so that logs compare.
    """

    def __init__(self, decisions: Decisions, seed: int = 0):
        super().__init__(decisions)
        self.generator = torch.Generator().manual_seed(seed)

    def propose(self, n: int) -> list[list[int]]:
        cols = [torch.randint(k, (n,), generator=self.generator) for _, k in self.decisions]
        return torch.stack(cols, dim=1).tolist()

    def update(self, tokens: list[list[int]], rewards: list[float]) -> dict[str, float]:
        _, rewards = self._as_tensors(tokens, rewards)
        b = self._advance_baseline(rewards)
        self.step += 1
        return {"loss": 0.0, "baseline": self.baseline,
                "entropy": sum(math.log(k) for _, k in self.decisions),
                "mean_reward": rewards.mean().item(), "step": self.step,
                # R - b, used for nothing
                "baseline_before": b, "advantages": (rewards - b).tolist()}

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "baseline": self.baseline,
                "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.baseline, self.step = state["baseline"], state["step"]


def make_learning_rule(kind: str, decisions: Decisions, seed: int = 0, **kw) -> LearningRule:
    """The learning rule `kind` ("reinforce", "ppo" or "random") for a fresh Controller over
    `decisions`; kw go to the class (random search takes none and ignores them)."""
    if kind == "reinforce":
        return Reinforce(decisions, seed=seed, **kw)
    elif kind == "ppo":
        return PPO(decisions, seed=seed, **kw)
    elif kind == "random":
        return RandomSearch(decisions, seed=seed)
    raise ValueError(f"unknown learning rule {kind!r}; expected 'reinforce', 'ppo' or 'random'")
