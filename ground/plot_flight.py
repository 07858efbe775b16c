"""The anomaly plot's data: a flight log's series (times from the first cycle), what happened
when, and the marks and styles the panels share (``ground.logplot`` draws the figure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from firmware import log_topics as lt
from ground import logdata as ld
from ground.logfile import FlightLog

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Timestamp checks drawn against their thresholds in the plot's last panel.
PLOT_CHECKS = tuple(lt.CONTINGENCY.field(c) for c in (
    "frame_latency", "frame_interval", "camera_clock_residual", "camera_clock_skew"))
FAULT_COLOR = "darkviolet"
CHECK_COLORS = ("C0", "C1", "C2", "C9", "C8")
TRUTH_STYLE: dict[str, Any] = {"ls": "--", "lw": 1.0, "alpha": 0.9}
SETPOINT_STYLE: dict[str, Any] = {"ls": ":", "lw": 1.6}
MAX_EVENTS_SHOWN = 18


class Series:
    """A topic's columns with times in seconds from the first cycle."""

    def __init__(self, d: FlightLog, topic: lt.TopicDef, t0_us: int) -> None:
        self.schema = topic
        self.topic = ld.topic(d, topic)
        self.ok = self.topic is not None
        self.t = ld.relative_s(self.topic, t0_us) if self.topic is not None else np.zeros(0)

    def has(self, field: str, width: int = 0) -> bool:
        """The field is there, numeric, one a record (or an array of at least ``width``)."""
        name = self.schema.field(field)
        return self.topic is not None and ld.column(self.topic, name, width) is not None

    def col(self, field: str, index: int | None = None) -> npt.NDArray[np.float64]:
        """A column ``has`` accepted (``index`` below the width it was asked for)."""
        assert self.topic is not None
        c = self.topic.data[field]
        if index is not None:
            c = c[:, index]
        return np.asarray(c, dtype=np.float64)


@dataclass
class Flight:
    """What the panels draw: the log, its series and what happened when."""

    d: FlightLog
    t0: int
    land: ld.LandNow | None
    fault_s: float | None
    t_end: float
    thresholds: dict[str, float]
    outcome: str
    state: Series
    truth: Series
    setpoint: Series
    ranges: Series
    camera: Series
    checks: Series

    @classmethod
    def of(cls, d: FlightLog) -> Flight:
        t0 = ld.first_cycle_us(d)
        land = ld.land_now(d, t0)
        return cls(d, t0, land, ld.first_fault_s(d), (ld.last_us(d) - t0) / 1e6,
                   ld.thresholds(d), ld.outcome(d, land, ld.final_mode(d)),
                   Series(d, lt.VEHICLE_STATE, t0), Series(d, lt.TRUTH, t0),
                   Series(d, lt.SETPOINT, t0), Series(d, lt.SENSOR_RANGE, t0),
                   Series(d, lt.CAMERA_FRAME, t0), Series(d, lt.CONTINGENCY, t0))


def mark(ax: Axes, fault_s: float | None, land: ld.LandNow | None, label: bool,
          t_end: float) -> None:
    if land is not None:
        t = land.t_s
        ax.axvspan(t, max(t, t_end), color="red", alpha=0.05, lw=0)
        ax.axvline(t, color="red", lw=1.2)
        if label:
            ax.annotate(f" LAND_NOW {t:.2f} s\n ({land.reason})", xy=(t, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(3, -3),
                        textcoords="offset points", ha="left", va="top", color="red",
                        fontsize=9, fontweight="bold")
    if fault_s is not None:
        ax.axvline(fault_s, color=FAULT_COLOR, lw=1.2, ls="--")
        if label:
            ax.annotate(f"first fault {fault_s:.2f} s ", xy=(fault_s, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(-3, -3),
                        textcoords="offset points", ha="right", va="top",
                        color=FAULT_COLOR, fontsize=9, fontweight="bold")


def no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this log", transform=ax.transAxes, ha="center",
            va="center", color="0.5")
