"""A camera's frame stamps against the true mid-exposure times of their images (sim only)."""

from __future__ import annotations

import numpy as np


def stamp_error_report(errors_ns: list[int]) -> dict[str, float]:
    """Frame stamps against the true mid-exposure of their content (``t_ns - truth``): count,
    and |error| median, p99, max in us; the signed median shows a bias (its negative is the
    true camera-IMU time offset the online estimator should find)."""
    if not errors_ns:
        return {"count": 0}
    e = np.asarray(errors_ns, dtype=np.float64) / 1e3
    a = np.abs(e)
    return {
        "count": len(e),
        "median_us": round(float(np.median(a)), 1),
        "p99_us": round(float(np.percentile(a, 99)), 1),
        "max_us": round(float(a.max()), 1),
        "signed_median_us": round(float(np.median(e)), 1),
    }
