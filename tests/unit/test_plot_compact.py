"""The line thinning of the figure and the page (``ground.plot_series.compact``): what is
drawn stays what the log holds: repeats of a held value go, spikes and gaps stay."""

from __future__ import annotations

import numpy as np

from ground.plot_series import compact


def test_a_held_value_keeps_its_first_and_last_sample_and_draws_the_same() -> None:
    t = np.arange(1000) / 500.0
    y = np.repeat(np.arange(10.0), 100)  # a 5 Hz value recorded at 500 Hz
    tc, yc = compact(t, y)
    assert len(tc) == 20
    np.testing.assert_array_equal(np.interp(t, tc, yc)[::100], y[::100])
    # drawn as steps between the kept points: identical at every original sample
    held = yc[np.searchsorted(tc, t, side="right") - 1]
    np.testing.assert_array_equal(held, y)


def test_a_long_line_keeps_every_bins_extremes_so_no_spike_is_lost() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(200_000) / 500.0
    y = rng.normal(0.0, 1.0, len(t))
    y[123_457] = 50.0  # one sample
    y[7] = -40.0
    tc, yc = compact(t, y, max_points=2_000)
    assert len(tc) <= 2_002 + 2
    assert yc.max() == 50.0 and yc.min() == -40.0
    assert tc[np.argmax(yc)] == t[123_457]
    assert np.all(np.diff(tc) > 0)  # in time order
    assert tc[0] == t[0] and tc[-1] == t[-1]


def test_a_gap_of_nans_stays_a_gap() -> None:
    t = np.arange(100_000) / 500.0
    y = np.sin(t)
    y[40_000:41_000] = np.nan  # not controlled for 2 s
    tc, yc = compact(t, y, max_points=1_000)
    inside = (tc >= t[40_000]) & (tc < t[41_000])
    assert inside.any() and np.isnan(yc[inside]).all()
    assert np.isfinite(yc[~inside]).all()


def test_short_lines_are_untouched() -> None:
    t, y = np.array([0.0, 1.0]), np.array([3.0, 3.0])
    tc, yc = compact(t, y)
    np.testing.assert_array_equal(tc, t)
    np.testing.assert_array_equal(yc, y)


def test_repeats_kept_when_asked_and_the_line_is_short() -> None:
    t = np.arange(50) / 500.0
    y = np.zeros(50)
    tc, yc = compact(t, y, repeats=True)
    np.testing.assert_array_equal(tc, t)
    np.testing.assert_array_equal(yc, y)
