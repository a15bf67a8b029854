from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation.scoring import (
    CompositeFormula,
    Grade4Flag,
    ReviewFlag,
    grade4_flags,
    is_real_change,
    newcombe_difference_interval,
    review_flag,
    satisfaction_rate,
    shrunk_rate,
    wilson_interval,
)


def composite_score(components, weights):
    return CompositeFormula(weights).score(components)


def test_satisfaction_rate_counts_satisfied_and_basically_satisfied():
    assert satisfaction_rate(5, 3, 10) == 0.8


def test_satisfaction_rate_is_none_without_answers():
    assert satisfaction_rate(0, 0, 0) is None


def test_satisfaction_rate_rejects_counts_above_n():
    with pytest.raises(ValueError):
        satisfaction_rate(6, 5, 10)


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (4, 10, (0.1682, 0.6873)),
        (7, 10, (0.3968, 0.8922)),
        (43, 100, (0.3373, 0.5278)),
        (0, 5, (0.0, 0.4345)),
    ],
)
def test_wilson_interval_known_values(k, n, expected):
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-3)


def test_wilson_interval_is_exact_at_the_extremes():
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0


@pytest.mark.parametrize(("k", "n"), [(0, 0), (1, -1), (-1, 5), (6, 5)])
def test_wilson_interval_rejects_invalid_counts(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_estimate(kn):
    k, n = kn
    low, high = wilson_interval(k, n)
    assert 0 <= low <= k / n <= high <= 1


def test_newcombe_detects_a_real_change():
    interval = newcombe_difference_interval(20, 100, 35, 100)
    assert interval == pytest.approx((0.026, 0.268), abs=1e-3)
    assert is_real_change(interval)


def test_newcombe_small_change_is_not_real():
    interval = newcombe_difference_interval(20, 100, 25, 100)
    assert interval == pytest.approx((-0.066, 0.164), abs=1e-3)
    assert not is_real_change(interval)


def test_newcombe_decline_is_negative():
    low, high = newcombe_difference_interval(35, 100, 20, 100)
    assert high < 0
    assert is_real_change((low, high))


def test_shrunk_rate_formula():
    assert shrunk_rate(8, 10, 0.5, m=10) == pytest.approx(0.65)


def test_shrunk_rate_pulls_small_samples_harder():
    prior = 0.6
    small = shrunk_rate(5, 5, prior)
    large = shrunk_rate(500, 500, prior)
    assert abs(small - prior) < abs(large - prior)
    assert prior < small < large <= 1.0


@pytest.mark.parametrize(
    ("d", "n", "expected"),
    [
        (1, 3, ReviewFlag.NONE),
        (34, 100, ReviewFlag.MARGINAL),
        (10, 12, ReviewFlag.CONFIRMED),
        (0, 0, ReviewFlag.NONE),
        (0, 10, ReviewFlag.NONE),
    ],
)
def test_review_flag_boundaries(d, n, expected):
    assert review_flag(d, n, Fraction(1, 3)) is expected


def test_review_flag_uses_the_given_threshold():
    assert review_flag(2, 5, Fraction(1, 2)) is ReviewFlag.NONE
    assert review_flag(3, 5, Fraction(1, 2)) is ReviewFlag.MARGINAL


def test_grade4_exactly_two_thirds_competent_is_not_a_warning():
    assert grade4_flags(1, 1, 1, 0, Fraction(1, 3)) == frozenset()


def test_grade4_below_two_thirds_competent_is_a_warning():
    assert grade4_flags(1, 1, 2, 0, Fraction(1, 3)) == {Grade4Flag.WARNING_TALK}


def test_grade4_exactly_one_third_incompetent_is_not_adjustment():
    assert Grade4Flag.ADJUSTMENT_RECOMMENDED not in grade4_flags(2, 2, 0, 2, Fraction(1, 3))


def test_grade4_both_flags_can_apply():
    assert grade4_flags(1, 1, 0, 2, Fraction(1, 3)) == {
        Grade4Flag.ADJUSTMENT_RECOMMENDED,
        Grade4Flag.WARNING_TALK,
    }


def test_grade4_without_answers_has_no_flags():
    assert grade4_flags(0, 0, 0, 0, Fraction(1, 3)) == frozenset()


def test_composite_equal_weights():
    result = composite_score({"a": 0.2, "b": 0.4, "c": 0.9}, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert result.score == pytest.approx(0.5)
    assert not result.renormalised
    assert result.omitted == ()
    assert [c.name for c in result.contributions] == ["a", "b", "c"]
    assert sum(c.contribution for c in result.contributions) == pytest.approx(result.score)


def test_composite_renormalises_over_missing_components():
    result = composite_score({"a": 0.5, "b": None, "c": 1.0}, {"a": 0.5, "b": 0.25, "c": 0.25})
    assert result.renormalised
    assert result.omitted == ("b",)
    assert result.score == pytest.approx(2 / 3)
    a = result.contributions[0]
    assert (a.nominal_weight, a.weight, a.value) == pytest.approx((0.5, 2 / 3, 0.5))
    assert a.contribution == pytest.approx(1 / 3)


def test_composite_treats_an_absent_component_as_missing():
    result = composite_score({"a": 0.4}, {"a": 0.5, "b": 0.5})
    assert result.score == pytest.approx(0.4)
    assert result.omitted == ("b",)


def test_composite_without_any_data_has_no_score():
    result = composite_score({"a": None}, {"a": 1.0})
    assert result.score is None
    assert result.contributions == ()


def test_composite_rejects_weights_not_summing_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        composite_score({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.4})


def test_composite_rejects_negative_weights():
    with pytest.raises(ValueError, match="negative"):
        composite_score({"a": 0.5, "b": 0.5}, {"a": 1.5, "b": -0.5})


def test_composite_rejects_components_without_weight():
    with pytest.raises(ValueError):
        composite_score({"a": 0.5, "z": 0.5}, {"a": 1.0})

