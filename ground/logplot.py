"""``flightsw log plot``: one anomaly-report figure of a flight log (PNG, Agg).

The figure: the ground track against the plan, the camera frames around LAND_NOW (or the
fault), a text panel saying what happened, then six panels over the flight sharing one time
axis (seconds from the first control cycle): altitude, horizontal position, velocity,
attitude, frame latency and the timestamp checks against their thresholds. Each panel is one
function of its axes and the ``Flight`` it draws from (``ground.plot_panels``).

matplotlib is the optional extra ``plot``, imported only when a plot is drawn. Text
from the log (events, info) is shown as text, never interpreted (no mathtext).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from firmware import log_topics as lt
from ground import logdata as ld
from ground import plot_panels as pp
from ground.logfile import FlightLog
from ground.plot_flight import Flight, mark

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


def log_plot(path: str | Path, out_png: str | Path) -> Path:
    """One anomaly-report figure of the flight (PNG, Agg). Needs the ``plot`` extra."""
    p = Path(path)
    d = ld.read(p)
    try:
        return plot_data(d, out_png, source=p.name)
    except ld.BadFieldError as exc:
        raise ld.LogToolError(f"{p}: {exc}") from None


def plot_data(d: FlightLog, out_png: str | Path, source: str = "") -> Path:
    """``log_plot`` on a log already read (lets callers add info such as a fault onset)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ld.LogToolError("log plot needs matplotlib: pip install 'flightsw[plot]'") from None
    out = Path(out_png)
    f = Flight.of(d)
    fig = Figure(figsize=(12, 17), dpi=110)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(7, 3, height_ratios=[2.3, 1, 1, 1, 1, 1, 1],
                          width_ratios=[1, 1, 0.8], hspace=0.14, wspace=0.22, left=0.07,
                          right=0.97, top=0.93, bottom=0.035)
    pp.track_panel(fig.add_subplot(gs[0, 0]), f)
    pp.zoom_panel(fig.add_subplot(gs[0, 1]), f)
    pp.text_panel(fig.add_subplot(gs[0, 2]), f)
    axes: list[Axes] = []
    for i in range(6):
        axes.append(fig.add_subplot(gs[i + 1, :], sharex=axes[0] if axes else None))
    ax_alt, ax_ne, ax_vel, ax_att, ax_lat, ax_chk = axes
    pp.altitude_panel(ax_alt, f)
    pp.position_panel(ax_ne, f)
    pp.velocity_panel(ax_vel, f)
    pp.attitude_panel(ax_att, f)
    pp.latency_panel(ax_lat, f)
    pp.checks_panel(ax_chk, f)
    _mark_time_axes(axes, f)
    _headline(fig, f, source)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    except OSError as exc:
        raise ld.LogToolError(f"{out}: cannot write PNG: {exc.strerror}") from None
    log.info("wrote %s", out)
    return out


def _mark_time_axes(axes: list[Axes], f: Flight) -> None:
    """LAND_NOW and the first fault on every time panel; grids, legends, one time axis."""
    for i, ax in enumerate(axes):
        mark(ax, f.fault_s, f.land, label=i == 0, t_end=f.t_end)
        ax.grid(alpha=0.3)
        last = ax is axes[-1]
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7.5, loc="upper left" if last else "best", ncol=3,
                      framealpha=0.85)
        if not last:
            ax.tick_params(labelbottom=False)
    st = f.state
    axes[0].set_xlim(min(0.0, float(st.t[0])) if st.ok else 0.0, max(f.t_end, 1e-3))


def _headline(fig: Figure, f: Flight, source: str) -> None:
    info = f.d.info
    head = " \u00b7 ".join(str(x) for x in (
        info.get(lt.INFO_SCENARIO, "?"), f"seed {info.get(lt.INFO_SEED, '?')}",
        f"backend {info.get(lt.INFO_BACKEND, '?')}", info.get(lt.INFO_PLANET)) if x)
    fig.suptitle(f"{head}\n{f.outcome}", fontsize=13, fontweight="bold", parse_math=False)
    if source:
        fig.text(0.97, 0.005, f"{source} \u00b7 flightsw {info.get(lt.INFO_VER_SW, '?')}",
                 ha="right", va="bottom", fontsize=7, color="0.4", parse_math=False)
