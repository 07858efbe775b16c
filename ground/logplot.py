"""``flightsw log plot``: one anomaly-report figure of a flight log (PNG, Agg), and with
``--html`` the same panels as an interactive page to zoom in.

The figure: a top row with the ground track against the plan, the camera frames around
LAND_NOW (or the fault), the tripping check around its trip and a text panel saying what
happened; then two columns of panels over the flight, all on one time axis (seconds from the
first control cycle, the seconds ``fly`` prints), each under a labelled strip of the flight
modes. Left: altitude, north, east, velocity north / east / down, frame latency and the
timestamp checks against their thresholds. Right: the motor commands and collective thrust,
roll, pitch, yaw, the body rates p q r (each against its setpoint), and the check that
tripped in its own units with its threshold. Every time panel is shaded by flight mode and
carries the fault, LAND_NOW and touchdown lines (three styles).

matplotlib is the optional extra ``plot``, Plotly the extra ``html``; each is imported only
when its output is asked for. Text from the log (events, info) is shown as text, never
interpreted (no mathtext).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from firmware import log_topics as lt
from ground import logdata as ld
from ground import plot_panels as pp
from ground import plot_series as ps
from ground.logfile import FlightLog
from ground.plot_draw import draw_panel, mode_strip
from ground.plot_flight import Flight, headline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.gridspec import SubplotSpec

log = logging.getLogger(__name__)

FIGSIZE_IN = (17.0, 27.0)
DPI = 100
STRIP_HEIGHT = 0.3  # the mode strip, against a time panel's 1


def log_plot(path: str | Path, out_png: str | Path, html: str | Path | None = None) -> Path:
    """One anomaly-report figure of the flight (PNG, Agg), and the interactive page at
    ``html`` if given. Needs the ``plot`` extra (and ``html`` for the page)."""
    p = Path(path)
    if html is not None:
        from ground.plot_html import require_plotly

        require_plotly()  # before reading a large log for nothing
    d = ld.read(p)
    try:
        out = plot_data(d, out_png, source=p.name)
        if html is not None:
            from ground.plot_html import html_page

            html_page(Flight.of(d), html, source=p.name)
        return out
    except ld.BadFieldError as exc:
        raise ld.LogToolError(f"{p}: {exc}") from None


def plot_data(d: FlightLog, out_png: str | Path, source: str = "") -> Path:
    """``log_plot`` on a log already read (lets callers add info such as a fault onset)."""
    fig = figure(Flight.of(d), source)
    out = ld.save_png(fig, out_png)
    log.info("wrote %s", out)
    return out


def figure(f: Flight, source: str = "") -> Figure:
    """The whole figure, not yet written (tests read its axes)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ld.LogToolError("log plot needs matplotlib: pip install 'flightsw[plot]'") from None
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    # room above each row of the top two for a title over a legend of two or three rows
    outer = fig.add_gridspec(3, 1, height_ratios=[2.5, 1.6, 10.0], hspace=0.2, left=0.05,
                             right=0.985, top=0.925, bottom=0.025)
    top = outer[0].subgridspec(1, 4, width_ratios=[1.15, 1.0, 1.0, 0.95], wspace=0.3)
    pp.track_panel(fig.add_subplot(top[0]), f)
    pp.zoom_panel(fig.add_subplot(top[1]), f)
    pp.trip_zoom_panel(fig.add_subplot(top[2]), f)
    pp.text_panel(fig.add_subplot(top[3]), f)
    event = outer[1].subgridspec(1, 3, wspace=0.2)
    for i, panel in enumerate((ps.motors(f), ps.rates_together(f), ps.tilt_together(f))):
        pp.event_panel(fig.add_subplot(event[i]), f, panel)
    halves = outer[2].subgridspec(1, 2, wspace=0.14)
    left, right = ps.columns(f)
    strips: list[Axes] = []
    first: Axes | None = None
    for spec, panels in ((halves[0], left), (halves[1], right)):
        strip, first = _column(fig, spec, panels, f, first)
        strips.append(strip)
    assert first is not None
    first.set_xlim(_time_range(f))
    for strip in strips:  # last: its labels are placed by the final time scale
        mode_strip(strip, f)
    _headline(fig, f, source)
    return fig


def _column(fig: Figure, spec: SubplotSpec, panels: list[ps.Panel], f: Flight,
            share: Axes | None) -> tuple[Axes, Axes]:
    """A mode strip over the column's time panels, all on the one time axis."""
    n = len(panels)
    gs = spec.subgridspec(n + 1, 1, height_ratios=[STRIP_HEIGHT] + [1.0] * n, hspace=0.55)
    strip = fig.add_subplot(gs[0], sharex=share)
    share = share or strip
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(gs[i + 1], sharex=share)
        draw_panel(ax, panel, f)
        if i < n - 1:
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel(f.time_label, fontsize=8.5)
    return strip, share


def _time_range(f: Flight) -> tuple[float, float]:
    st = f.state
    lo = min(0.0, float(st.t[0])) if st.ok and len(st.t) else 0.0
    return lo, max(f.t_end, lo + 1e-3)


def _headline(fig: Figure, f: Flight, source: str) -> None:
    fig.suptitle(f"{headline(f)}\n{f.outcome}", fontsize=14, fontweight="bold", y=0.993,
                 va="top", parse_math=False)
    if source:
        fig.text(0.985, 0.004, f"{source} \u00b7 flightsw {f.d.info.get(lt.INFO_VER_SW, '?')}",
                 ha="right", va="bottom", fontsize=7, color="0.4", parse_math=False)

