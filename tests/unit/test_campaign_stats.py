"""The campaign statistics against published and analytic values (never against themselves)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ground.campaign.stats import binom_cdf, cep, clopper_pearson, percentiles


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # R binom.test(k, n)$conf.int, the usual reference for the exact interval
    (5, 20, 0.08657147, 0.49104587),
    (1, 10, 0.002528579, 0.445016117),
    (50, 100, 0.3983211, 0.6016789),
    (0, 1000, 0.0, 0.003682084),
])
def test_clopper_pearson_matches_published_values(k: int, n: int, low: float,
                                                  high: float) -> None:
    rate = clopper_pearson(k, n)
    assert rate.low == pytest.approx(low, abs=1e-7)
    assert rate.high == pytest.approx(high, abs=1e-7)


@pytest.mark.parametrize("n", [1, 7, 200, 5000])
def test_clopper_pearson_edges_have_closed_forms(n: int) -> None:
    # k = 0: upper = 1 - (alpha/2)^(1/n); k = n: lower = (alpha/2)^(1/n)
    assert clopper_pearson(0, n).high == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    assert clopper_pearson(n, n).low == pytest.approx(0.025 ** (1 / n), rel=1e-9)
    assert clopper_pearson(0, n).low == 0.0 and clopper_pearson(n, n).high == 1.0


def test_clopper_pearson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_binomial_cdf_against_the_sum_of_exact_terms() -> None:
    for n, k, p in [(10, 3, 0.3), (40, 20, 0.55), (7, 0, 0.9), (200, 15, 0.05)]:
        exact = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1))
        assert binom_cdf(k, n, p) == pytest.approx(exact, rel=1e-10)


def test_cep_of_a_circular_normal_matches_the_rayleigh_quantiles() -> None:
    # radial error of a circular normal with sigma s is Rayleigh: r_q = s sqrt(-2 ln(1 - q));
    # CEP50 = 1.1774 s, CEP95 = 2.4477 s. The sample is the Rayleigh quantiles on a fine grid.
    sigma = 3.0
    q = (np.arange(200_000) + 0.5) / 200_000
    radii = sigma * np.sqrt(-2.0 * np.log1p(-q))
    assert cep(list(radii), 0.5) == pytest.approx(1.1774100 * sigma, rel=1e-4)
    assert cep(list(radii), 0.95) == pytest.approx(2.4476520 * sigma, rel=1e-4)


def test_percentiles_skip_missing_values() -> None:
    assert percentiles([1.0, None, float("nan"), 3.0], (50,)) == [2.0]  # type: ignore[list-item]
    assert all(math.isnan(x) for x in percentiles([], (50, 95)))
