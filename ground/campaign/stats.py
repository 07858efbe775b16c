"""The statistics a campaign report states: exact binomial intervals, percentiles, CEP.

Clopper-Pearson: C. J. Clopper and E. S. Pearson, "The use of confidence or fiducial limits
illustrated in the case of the binomial", Biometrika 26(4), 404-413 (1934). The interval is
exact (never covers less than its level): the lower bound is the p at which P(X >= k) equals
alpha/2, the upper the p at which P(X <= k) equals alpha/2. Both tails are monotonic in p, so
plain bisection on the binomial CDF finds them to any precision without scipy.

CEP (circular error probable): the radius holding the given fraction of the radial errors,
taken here as the empirical percentile of the observed radial errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_BISECTION_STEPS = 60  # 2**-60: far below any printed digit


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its exact two-sided interval."""

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def text(self) -> str:
        if self.n == 0:
            return "0/0"
        return (f"{self.k}/{self.n} = {100 * self.value:.1f} % "
                f"[{100 * self.low:.2f}, {100 * self.high:.2f}]")


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact to rounding)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    j = np.arange(k + 1, dtype=np.float64)
    log_pmf = _log_choose(n, k) + j * math.log(p) + (n - j) * math.log1p(-p)
    top = float(log_pmf.max())
    return min(1.0, math.exp(top) * float(np.exp(log_pmf - top).sum()))


def _log_choose(n: int, k: int) -> npt.NDArray[np.float64]:
    """log C(n, j) for j = 0..k, by the product rule C(n, j) = C(n, j-1) (n-j+1) / j."""
    j = np.arange(1, k + 1, dtype=np.float64)
    steps = np.log(n - j + 1) - np.log(j)
    return np.concatenate(([0.0], np.cumsum(steps)))


def _bisect(increasing: bool, target: float, fn: Callable[[float], float]) -> float:
    """The p in (0, 1) where the monotonic ``fn`` crosses ``target``."""
    lo, hi = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if (fn(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> Rate:
    """The exact (Clopper & Pearson 1934) two-sided interval of a binomial proportion."""
    if not (0 <= k <= n):
        raise ValueError(f"need 0 <= k <= n (got k={k}, n={n})")
    if n == 0:
        return Rate(0, 0, 0.0, 1.0)
    half = (1.0 - confidence) / 2.0
    # lower: P(X >= k; p) = 1 - cdf(k-1; p) rises with p
    low = 0.0 if k == 0 else _bisect(True, half, lambda p: 1.0 - binom_cdf(k - 1, n, p))
    # upper: cdf(k; p) falls with p
    high = 1.0 if k == n else _bisect(False, half, lambda p: binom_cdf(k, n, p))
    return Rate(k, n, low, high)


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 100)
                ) -> list[float]:
    """Percentiles (linear interpolation) of the finite values; NaN for none."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)],
                        dtype=np.float64)
    if finite.size == 0:
        return [float("nan")] * len(qs)
    return [float(x) for x in np.percentile(finite, list(qs))]


def cep(radial_errors_m: Sequence[float], fraction: float) -> float:
    """The radius holding ``fraction`` (0..1) of the radial errors (empirical CEP)."""
    return percentiles(radial_errors_m, (100.0 * fraction,))[0]
