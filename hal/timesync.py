"""Map a device clock onto the host clock: offset and skew, robust to receive jitter.

Observations are pairs (device time of an event, host time the event was *seen*), where the
host time is the receive time minus the known wire/transfer time. Scheduling and transfer
jitter only ever make the host see an event late, never early, so the true mapping is the
*lower envelope* of the points. The fit is the classic linear-programming answer: the line
below every point in the window that minimises the summed distance to them, which is the
edge of the lower convex hull straddling the window's mean device time. Unlike least squares
it is unbiased by one-sided jitter.

The mapping the driver stamps with slews toward the fit at a bounded rate (never jumps), so a
single bad point cannot yank every later timestamp; a difference too large to slew (a device
reset, a reconnect) re-initialises and is counted. Residuals (observation minus the stamping
mapping) and skew are exposed in ``ClockStats`` for the watchdog.
"""

from __future__ import annotations

from collections import deque

from hal.types import ClockStats


class ClockMapper:
    def __init__(
        self,
        window: int = 64,
        slew_ns_per_s: float = 2_000_000.0,  # at most 2 ms of correction per second
        step_ns: float = 200_000_000.0,  # beyond 200 ms: re-initialise instead of slewing
        refit_every: int = 1,
    ) -> None:
        self._pts: deque[tuple[int, int]] = deque(maxlen=max(2, window))
        self._slew = slew_ns_per_s / 1e9
        self._step = step_ns
        self._refit_every = max(1, refit_every)
        self._since_fit = 0
        # Published mapping: host = h0 + (device - d0) * (1 + skew)
        self._d0 = 0
        self._h0 = 0.0
        self._skew = 0.0
        self._valid = False
        self.stats = ClockStats()

    @property
    def valid(self) -> bool:
        return self._valid

    def to_host(self, device_ns: int) -> int:
        return int(self._h0 + (device_ns - self._d0) * (1.0 + self._skew))

    def reset(self) -> None:
        self._pts.clear()
        self._valid = False

    def observe(self, device_ns: int, host_ns: int) -> None:
        pts = self._pts
        if pts and device_ns <= pts[-1][0]:
            # Device time went backwards or stood still: its clock restarted.
            self.stats.step_resets += 1
            pts.clear()
            self._valid = False
        pts.append((device_ns, host_ns))
        st = self.stats
        st.updates += 1
        if not self._valid:
            self._d0, self._h0, self._skew = device_ns, float(host_ns), 0.0
            self._valid = True
            st.residual_ns = 0.0
            st.offset_ns = float(host_ns - device_ns)
            return
        st.residual_ns = host_ns - (self._h0 + (device_ns - self._d0) * (1.0 + self._skew))
        if abs(st.residual_ns) > self._step:
            # A step (the device stalled, restarted or reconnected): the old points describe
            # another mapping, so start again from this one instead of fitting across both.
            st.step_resets += 1
            pts.clear()
            pts.append((device_ns, host_ns))
            self._d0, self._h0 = device_ns, float(host_ns)
            st.offset_ns = float(host_ns - device_ns)
            return
        self._since_fit += 1
        if self._since_fit < self._refit_every or len(pts) < 3:
            return
        self._since_fit = 0
        fit = self._fit()
        if fit is None:
            return
        fit_h, fit_slope = fit  # fit line evaluated at device_ns, and its slope
        current = self._h0 + (device_ns - self._d0) * (1.0 + self._skew)
        diff = fit_h - current
        if abs(diff) > self._step:
            st.step_resets += 1
            new_h = fit_h
        else:
            allowed = self._slew * max(0, device_ns - self._d0)
            new_h = current + max(-allowed, min(allowed, diff))
        self._d0, self._h0, self._skew = device_ns, new_h, fit_slope - 1.0
        st.skew_ppm = self._skew * 1e6
        st.offset_ns = new_h - device_ns

    def _fit(self) -> tuple[float, float] | None:
        pts = self._pts
        dx0, hy0 = pts[0]
        hull: list[tuple[float, float]] = []
        sx = 0.0
        for d, h in pts:
            x, y = float(d - dx0), float(h - hy0)
            sx += x
            while len(hull) >= 2:
                (x1, y1), (x2, y2) = hull[-2], hull[-1]
                # keep only counter-clockwise turns: the lower hull
                if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) <= 0:
                    hull.pop()
                else:
                    break
            hull.append((x, y))
        if len(hull) < 2:
            return None
        xm = sx / len(pts)
        for (x1, y1), (x2, y2) in zip(hull, hull[1:], strict=False):
            if x2 >= xm:
                break
        if x2 == x1:
            return None
        slope = (y2 - y1) / (x2 - x1)
        x_last = float(pts[-1][0] - dx0)
        return hy0 + y1 + slope * (x_last - x1), slope
