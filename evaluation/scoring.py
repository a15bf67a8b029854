"""Rates, intervals, flags, shrinkage and the composite score of the residents' evaluation of Party secretaries."""

import math
from collections.abc import Mapping
from enum import Enum
from fractions import Fraction
from typing import NamedTuple

Z_95 = 1.959963984540054
DEFAULT_THETA = Fraction(1, 3)
COMPETENT_FLOOR = Fraction(2, 3)
WEIGHT_TOLERANCE = 1e-9

Interval = tuple[float, float]


class ReviewFlag(Enum):
    NONE = "none"
    MARGINAL = "marginal"
    CONFIRMED = "confirmed"


class Grade4Flag(Enum):
    ADJUSTMENT_RECOMMENDED = "adjustment_recommended"
    WARNING_TALK = "warning_talk"


class Contribution(NamedTuple):
    name: str
    nominal_weight: float
    weight: float
    value: float
    contribution: float


class CompositeScore(NamedTuple):
    score: float | None
    contributions: tuple[Contribution, ...]
    omitted: tuple[str, ...]
    renormalised: bool


def _exceeds(count: int, n: int, theta: Fraction) -> bool:
    """Return whether count / n > theta, compared exactly in integers."""
    return count * theta.denominator > n * theta.numerator


def satisfaction_rate(s: int, b: int, n: int) -> float | None:
    """Return (S + B) / N, or None when nobody gave a usable answer."""
    if s < 0 or b < 0 or s + b > n:
        raise ValueError("need 0 <= s, 0 <= b and s + b <= n")
    return None if n == 0 else (s + b) / n


def wilson_interval(k: int, n: int, z: float = Z_95) -> Interval:
    """Return the Wilson score interval for k successes in n trials."""
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= k <= n:
        raise ValueError("k must lie in [0, n]")
    z2 = z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4)
    # The closed form can miss 0 and 1 by rounding at the extremes; pin them.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def newcombe_difference_interval(k1: int, n1: int, k2: int, n2: int, z: float = Z_95) -> Interval:
    """Return Newcombe's hybrid score interval (method 10) for p2 - p1."""
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    p1, p2 = k1 / n1, k2 / n2
    diff = p2 - p1
    low = diff - math.hypot(p2 - l2, u1 - p1)
    high = diff + math.hypot(u2 - p2, p1 - l1)
    return max(-1.0, low), min(1.0, high)


def is_real_change(interval: Interval) -> bool:
    """Return whether the difference interval excludes zero."""
    low, high = interval
    return low > 0 or high < 0


def shrunk_rate(favourable: int, n: int, prior_rate: float, m: float = 10) -> float:
    """Return the rate shrunk toward prior_rate with the weight of m pseudo-answers."""
    if m < 0 or n + m <= 0:
        raise ValueError("need m >= 0 and n + m > 0")
    return (favourable + m * prior_rate) / (n + m)


def review_flag(d: int, n: int, theta: Fraction = DEFAULT_THETA) -> ReviewFlag:
    """Return the review flag for d dissatisfied answers out of n."""
    if n == 0 or not _exceeds(d, n, theta):
        return ReviewFlag.NONE
    low, _ = wilson_interval(d, n)
    # float > Fraction compares exactly, so no rounding at the boundary.
    return ReviewFlag.CONFIRMED if low > theta else ReviewFlag.MARGINAL


def grade4_flags(
    excellent: int, competent: int, basic: int, incompetent: int, theta: Fraction = DEFAULT_THETA
) -> frozenset[Grade4Flag]:
    """Return the grade4 flags for the given answer counts."""
    n = excellent + competent + basic + incompetent
    if n == 0:
        return frozenset()
    flags = set()
    if _exceeds(incompetent, n, theta):
        flags.add(Grade4Flag.ADJUSTMENT_RECOMMENDED)
    if (excellent + competent) * COMPETENT_FLOOR.denominator < n * COMPETENT_FLOOR.numerator:
        flags.add(Grade4Flag.WARNING_TALK)
    return frozenset(flags)


class CompositeFormula:
    """Composite scores under one set of weights, checked once for all the scores computed with them."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        if any(w < 0 for w in weights.values()):
            raise ValueError("weights must not be negative")
        total = math.fsum(weights.values())
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise ValueError(f"weights must sum to 1, got {total!r}")
        self.weights = dict(weights)

    def score(self, components: Mapping[str, float | None]) -> CompositeScore:
        """Return the weighted score, renormalising over components that have data."""
        weights = self.weights
        if not components.keys() <= weights.keys():
            raise ValueError(f"components without a weight: {sorted(components.keys() - weights.keys())}")
        # One pass over the weights: a table scores a thousand secretaries per page.
        present, omitted = [], []
        for name, w in weights.items():
            v = components.get(name)
            if v is None:
                omitted.append(name)
            else:
                present.append((name, w, v))
        present_total = math.fsum([w for _, w, _ in present])
        if present_total == 0:
            return CompositeScore(None, (), tuple(omitted), False)
        renormalised = any(weights[name] > 0 for name in omitted)
        contributions = tuple([
            Contribution(name, w, w / present_total, v, w / present_total * v) for name, w, v in present
        ])
        score = math.fsum([c.contribution for c in contributions])
        return CompositeScore(score, contributions, tuple(omitted), renormalised)

