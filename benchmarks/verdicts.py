"""One rule for every verdict on the results pages: two groups of replicates, a named test, an
interval, and one of three outcomes, corrected for the page's many comparisons.

A replicate is what varies between the two sides of the question: a search seed for "setting X
finds better networks", a training seed for "network A is more accurate", a timing for "network A
is faster". Each comparison reports the difference of the means (for latencies, the ratio of their
geometric means: the test runs on logs), its 95% interval and a p-value, all from Welch's t-test
(`scipy.stats.ttest_ind(equal_var=False)`). Welch, because the sides have two to five replicates
whose variances need not match (a hard-constrained search varies less than a soft one): it pools
nothing, and its interval widens honestly when replicates are few. With 2 against 2 an exact
permutation test (`permutation_p`) can never go below p = 1/3, so the pages need Welch's
assumption of roughly normal replicates to say anything at that size, and say so.

The outcome, one of three:
- **higher** (or lower, faster, slower): p < 0.05 after Benjamini-Hochberg over every verdict on
  the page (`scipy.stats.false_discovery_control`);
- **equal within ±δ**: the 90% interval lies inside the margin δ (two one-sided tests, TOST, at
  5% for each comparison: the page's correction is for differences only); δ is 0.5 accuracy
  points, 0.005 of reward, or 5% of latency (`ACCURACY`, `REWARD`, `LATENCY`);
- **undecided**: anything else, with about how many replicates a side would decide a difference of
  the observed size at 80% power (two-sided 5%, before the page's correction).
Overlapping or separate ranges are never a verdict. A side with one replicate has no variance to
test against: undecided.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

ALPHA, POWER = 0.05, 0.80


@dataclass(frozen=True)
class Scale:
    """How a measure is compared and written: `log` compares logs and writes a ratio; `margin` is
    the equivalence margin δ on the compared scale; `per` and `unit` write a difference."""
    unit: str
    margin: float
    log: bool = False
    per: float = 1.0
    words: tuple[str, str] = ("higher", "lower")
    margin_text: str = ""


ACCURACY = Scale("points", 0.005, per=100, margin_text="±0.5 points")
REWARD = Scale("", 0.005, margin_text="±0.005")
LATENCY = Scale("x", math.log(1.05), log=True, words=("slower", "faster"), margin_text="±5%")


@dataclass(frozen=True)
class Test:
    """Welch's t-test of `a` against `b` (new against old), before the page's correction."""
    what: str
    a: tuple[float, ...]
    b: tuple[float, ...]
    scale: Scale
    unit: str  # the replicates: "search seeds", "training seeds", "timings"
    note: str = ""  # e.g. that the two sides ran on different machines
    estimate: float = float("nan")  # mean(a) - mean(b), on logs for a ratio
    ci95: tuple[float, float] = (float("nan"), float("nan"))
    ci90: tuple[float, float] = (float("nan"), float("nan"))
    p: float = float("nan")
    df: float = float("nan")
    sd: float = float("nan")  # the two sides' pooled standard deviation, for the power calculation
    paired: bool = False  # a[i] and b[i] are one replicate measured two ways (`paired`)
    parts: tuple[int, ...] = ()  # `against_curve`: b's replicates per point of the curve

    def b_sizes(self) -> tuple[int, ...]:
        """The other side's replicates, per point where it is a curve's (`against_curve`)."""
        return self.parts or (len(self.b),)


def welch(what: str, a: list[float], b: list[float], scale: Scale, unit: str,
          note: str = "") -> Test:
    """The test of `a` (new) against `b` (old). A side with fewer than two replicates, or no
    variance on either, gives no p (undecided)."""
    if not len(a) or not len(b):
        return Test(what, tuple(a), tuple(b), scale, unit, note)
    x, y = (np.log(a), np.log(b)) if scale.log else (np.asarray(a, float), np.asarray(b, float))
    base = Test(what, tuple(a), tuple(b), scale, unit, note, estimate=float(x.mean() - y.mean()))
    if min(len(x), len(y)) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return base
    with warnings.catch_warnings():  # nearly equal timings: scipy warns of its own precision
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(x, y, equal_var=False)
    sd = math.sqrt(((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1))
                   / (len(x) + len(y) - 2))
    return Test(what, tuple(a), tuple(b), scale, unit, note, float(x.mean() - y.mean()),
                tuple(res.confidence_interval(0.95)), tuple(res.confidence_interval(0.90)),
                float(res.pvalue), float(res.df), sd)


def against_curve(what: str, a: list[float], parts: list[tuple[float, list[float]]],
                  scale: Scale, unit: str, note: str = "") -> Test:
    """`a` (new) against a point on another network's curve, sum(w * mean(b)) over `parts`, each
    part (w, b) one point's replicates: Fig. 5's question (Sec. 6.2), A1's accuracy against
    MobileNetV2's at A1's latency, interpolated between two of its widths with weights 1 - t
    and t. Welch's test of a linear combination of independent means: the estimate's variance is
    sum(w^2 * var / n) over the sides, its degrees of freedom Welch-Satterthwaite's; with one part
    of weight 1 it is `welch`. The weights are taken as known (the latencies that set them are
    measured far more tightly than accuracy); a point with fewer than two replicates gives no p
    (undecided)."""
    if scale.log:
        raise ValueError(f"{what}: against_curve compares means on a linear scale")
    parts = [(w, b) for w, b in parts if w]  # a point of weight 0 is not on the curve here
    sides = [(1.0, np.asarray(a, float))] + [(-w, np.asarray(b, float)) for w, b in parts]
    b_all = tuple(v for _, b in parts for v in b)
    base = Test(what, tuple(a), b_all, scale, unit, note, parts=tuple(len(b) for _, b in parts))
    if any(len(x) == 0 for _, x in sides):
        return base
    estimate = float(sum(w * x.mean() for w, x in sides))
    base = replace(base, estimate=estimate)
    terms = [w * w * x.var(ddof=1) / len(x) if len(x) > 1 else 0.0 for w, x in sides]
    if min(len(x) for _, x in sides) < 2 or not sum(terms):
        return base
    se = math.sqrt(sum(terms))
    df = sum(terms) ** 2 / sum(t * t / (len(x) - 1) for t, (_, x) in zip(terms, sides) if t)
    p = float(2 * stats.t.sf(abs(estimate) / se, df))

    def interval(level: float) -> tuple[float, float]:
        half = stats.t.ppf(0.5 + level / 2, df) * se
        return estimate - half, estimate + half
    # for the power calculation: the per-replicate SD that gives this standard error with the
    # smallest side's replicates on both sides, as two equal groups would
    n = min(len(x) for _, x in sides)
    return replace(base, ci95=interval(0.95), ci90=interval(0.90), p=p, df=float(df),
                   sd=se * math.sqrt(n / 2))


def paired(what: str, a: list[float], b: list[float], scale: Scale, unit: str,
           note: str = "") -> Test:
    """`a` (new) against `b` (old) measured on the same replicates, a[i] with b[i] (a training
    seed's network scored in float and in int8; one timing run's fp32 and int8 latency): the
    paired t-test (`scipy.stats.ttest_rel`) on the differences, on logs for a ratio. Pairing
    takes out what the replicates share; fewer than two pairs, or identical differences, give
    no p (undecided)."""
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} against {len(b)} values cannot be paired")
    x, y = (np.log(a), np.log(b)) if scale.log else (np.asarray(a, float), np.asarray(b, float))
    d = x - y
    base = Test(what, tuple(a), tuple(b), scale, unit, note,
                estimate=float(d.mean()) if len(d) else float("nan"), paired=True)
    # identical differences (to float rounding: 0.9218 - 0.9223 is not 0.9230 - 0.9235 in binary)
    if len(d) < 2 or np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        return base
    res = stats.ttest_rel(x, y)
    return Test(what, tuple(a), tuple(b), scale, unit, note, float(d.mean()),
                tuple(res.confidence_interval(0.95)), tuple(res.confidence_interval(0.90)),
                float(res.pvalue), float(res.df), float(d.std(ddof=1)), paired=True)


def permutation_p(a: list[float], b: list[float]) -> float:
    """The exact two-sided permutation p of the difference of means (every relabelling): with 2
    against 2 there are 6 labellings, the observed one and its mirror among them, so p >= 1/3."""
    res = stats.permutation_test((a, b), lambda x, y: np.mean(x) - np.mean(y),
                                 permutation_type="independent", alternative="two-sided",
                                 n_resamples=np.inf)
    return float(res.pvalue)


def seeds_needed(effect: float, sd: float, most: int = 200, paired: bool = False) -> int | None:
    """Replicates a side for a two-sample t-test to find `effect` at 80% power (two-sided 5%),
    or pairs for the paired t-test (`sd` then the differences'): the noncentral t's power, n by
    n; None if even `most` would not."""
    if not sd or not effect or not math.isfinite(sd):
        return None
    d = abs(effect) / sd
    for n in range(2, most + 1):
        df = n - 1 if paired else 2 * n - 2
        t = stats.t.ppf(1 - ALPHA / 2, df)
        nc = d * math.sqrt(n if paired else n / 2)
        if stats.nct.sf(t, df, nc) + stats.nct.cdf(-t, df, nc) >= POWER:
            return n
    return None


@dataclass
class Verdict:
    test: Test
    p_adjusted: float  # Benjamini-Hochberg over the page; nan where no p
    outcome: str  # "higher"/"lower" (or the scale's words), "equal", "undecided"

    def _value(self, v: float, signed: bool = True) -> str:
        s = self.test.scale
        if s.log:
            return f"{math.exp(v):.3f}x"
        return f"{v * s.per:+.2f}{' ' + s.unit if s.unit else ''}" if s.per != 1 else f"{v:+.4f}"

    def interval(self, level: int = 95) -> str:
        lo, hi = self.test.ci95 if level == 95 else self.test.ci90
        return f"{level}% interval {self._value(lo)} to {self._value(hi)}"

    def sizes(self) -> str:
        t = self.test
        b = "+".join(str(n) for n in t.b_sizes())  # "3+3": a curve's two points
        return f"{len(t.a)} {t.unit}, paired" if t.paired else f"{len(t.a)} vs {b} {t.unit}"

    def short(self) -> str:
        """The outcome in a few words, for a table cell."""
        t = self.test
        if self.outcome == "equal":
            return f"equal within {t.scale.margin_text} ({self.sizes()})"
        if self.outcome == "undecided":
            n = self.replicates_to_decide()
            more = f"; ~{n} a side would decide" if n else ""
            return f"undecided ({self.sizes()}{more})"
        return f"{self.outcome}, p = {self.p_adjusted:.3f} adjusted ({self.sizes()})"

    def replicates_to_decide(self) -> int | None:
        """Replicates a side (pairs, paired) that would decide a difference of the observed size
        at 80% power; 0 when the sides already have as many (decided before the page's
        correction, not after); None when no feasible number would."""
        t = self.test
        n = seeds_needed(t.estimate, t.sd, paired=t.paired)
        return 0 if n and n <= max(len(t.a), min(t.b_sizes())) else n

    def text(self) -> str:
        """The whole verdict: the estimate, its interval, the test's p (raw and adjusted) and the
        outcome; for "undecided", what would decide it."""
        t = self.test
        estimate = self._value(t.estimate)
        note = f"; {t.note}" if t.note else ""
        if math.isnan(t.p):
            if not (t.a and t.b):
                return f"**undecided**: no replicate on a side ({self.sizes()}{note})"
            if not all(map(math.isfinite, t.a + t.b)):
                return f"**undecided**: a replicate is not a number ({self.sizes()}{note})"
            why = ("one replicate on a side: no variance to test"
                   if min(len(t.a), *t.b_sizes()) < 2
                   else "no variance on either side")
            return f"**undecided**, {estimate}: {why} ({self.sizes()}{note})"
        name = "paired t" if t.paired else "Welch's t"
        test = f"{name} (df {t.df:.1f}) p = {t.p:.3f}, {self.p_adjusted:.3f} adjusted"
        if self.outcome == "equal":
            return (f"**equal within {t.scale.margin_text}**: {estimate}, "
                    f"{self.interval(90)} (TOST); {test} ({self.sizes()}{note})")
        if self.outcome != "undecided":
            return (f"**{self.outcome}**: {estimate}, {self.interval()}, {test} "
                    f"({self.sizes()}{note})")
        n = self.replicates_to_decide()
        side = "paired," if t.paired else "a side"
        if n == 0:
            decide = "not after the page's correction"
        elif n:
            decide = f"about {n} {t.unit} {side} would decide a difference this size"
        else:
            decide = f"more than 200 {t.unit} {side} would be needed for a difference this small"
        return (f"**undecided**: {estimate}, {self.interval()}, {test}; {decide} "
                f"({self.sizes()}{note})")


def judge(tests: list[Test]) -> list[Verdict]:
    """The page's verdicts: Benjamini-Hochberg over every p on it, then the three outcomes."""
    ps = [t.p for t in tests if not math.isnan(t.p)]
    adjusted = iter(stats.false_discovery_control(ps) if ps else [])
    out = []
    for t in tests:
        p_adj = float("nan") if math.isnan(t.p) else float(next(adjusted))
        if p_adj < ALPHA:
            outcome = t.scale.words[0] if t.estimate > 0 else t.scale.words[1]
        elif not math.isnan(t.p) and -t.scale.margin < t.ci90[0] and t.ci90[1] < t.scale.margin:
            outcome = "equal"
        else:
            outcome = "undecided"
        out.append(Verdict(t, p_adj, outcome))
    return out


@dataclass
class Page:
    """The verdicts of one page, corrected together: a table function hands each test to `say`
    (or `say_short`, for a table cell) and writes the placeholder it returns; `render` corrects
    them all at once and fills the placeholders in. The same `key` is one comparison, however
    often the page shows it; `compose` writes what several verdicts say together."""
    tests: dict[str, Test] = field(default_factory=dict)
    composed: list[tuple[list[str], Callable[[dict[str, Verdict | None]], str]]] = \
        field(default_factory=list)

    def _mark(self, key: str, test: Test, form: str) -> str:
        if self.tests.setdefault(key, test) != test:  # one key, one comparison
            raise ValueError(f"verdict key {key!r} names two different comparisons")
        return f"\x00{form}:{list(self.tests).index(key)}\x00"

    def say(self, key: str, test: Test) -> str:
        return self._mark(key, test, "text")

    def say_short(self, key: str, test: Test) -> str:
        return self._mark(key, test, "short")

    def compose(self, keys: list[str], write: Callable[[dict[str, Verdict | None]], str]) -> str:
        """A placeholder for `write({key: its verdict, or None if the page has none})`."""
        self.composed.append((keys, write))
        return f"\x00compose:{len(self.composed) - 1}\x00"

    def verdicts(self) -> dict[str, Verdict]:
        return dict(zip(self.tests, judge(list(self.tests.values()))))

    def render(self, text: str) -> str:
        by_key = self.verdicts()
        got = list(by_key.values())

        def fill(m: re.Match) -> str:
            if m[1] == "compose":
                keys, write = self.composed[int(m[2])]
                return write({k: by_key.get(k) for k in keys})
            return getattr(got[int(m[2])], m[1])()

        return re.sub(r"\x00(text|short|compose):(\d+)\x00", fill, text)

    def legend(self) -> str:
        """The page's count of verdicts by outcome, for the line that states the rule."""
        counts: dict[str, int] = {}
        for v in self.verdicts().values():
            counts[v.outcome] = counts.get(v.outcome, 0) + 1
        return ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))


def on_page(page: Page | None, text: Callable[[Page], str]) -> str:
    """A table function's text with the page's verdicts (`page`: corrected with the rest of the
    page, rendered by the caller), or standalone, printed alone, corrected on its own."""
    if page is not None:
        return text(page)
    own = Page()
    return own.render(text(own))
