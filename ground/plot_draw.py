"""Drawing a ``plot_series.Panel`` with matplotlib, and what every time panel shares: the
mode bands, the fault / LAND_NOW / touchdown lines, and the labelled mode strip.

The vertical lines are drawn under the data (the tripping check is a spike exactly at the
LAND_NOW line), and a panel's legend sits above its axes, where it hides nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ground.plot_flight import Flight, marks, mode_color
from ground.plot_series import (
    DATA,
    EST,
    POINTS,
    SAMPLES,
    SATURATED_COLOR,
    SETPOINT,
    STEP,
    TRUTH,
    Panel,
    compact,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Text

# Layers: mode bands under the marks under the data; points (the trip) above everything.
Z_BANDS, Z_MARKS, Z_DATA, Z_TRIP, Z_POINTS = 0.0, 1.5, 2.0, 3.0, 4.0
STYLES: dict[str, dict[str, Any]] = {
    EST: {"lw": 1.2},
    SETPOINT: {"lw": 1.5, "ls": ":"},
    TRUTH: {"lw": 0.9, "ls": "--", "alpha": 0.85},
    DATA: {"lw": 0.8},
    SAMPLES: {"ls": "none", "marker": ".", "ms": 1.2},
    STEP: {"lw": 1.0, "drawstyle": "steps-post"},
    POINTS: {"ls": "none", "ms": 9, "mec": "k", "mew": 0.6},
}
MODE_ALPHA = 0.2
MAX_MARKED = 400
MODE_FONT, MODE_FONT_SMALL = 7.5, 5.5
LEGEND_FONT = 7.0


def draw_panel(ax: Axes, p: Panel, f: Flight, zoom: tuple[float, float] | None = None,
               title: str = "") -> None:
    """``p`` on ``ax`` with the mode bands and marks; ``zoom``: a window of a few seconds,
    where each sample is shown; ``title`` above the legend."""
    shade_modes(ax, f)
    draw_marks(ax, f)
    for lo, hi in p.bands:
        # a thin band along the top: where, not how much (the lines show how much)
        ax.axvspan(lo, max(hi, lo + 1e-3), ymin=0.93, ymax=1.0, color=SATURATED_COLOR,
                   alpha=0.8, lw=0, zorder=Z_POINTS)
    for tr in p.traces:
        style = dict(STYLES[tr.role])
        z = Z_POINTS if tr.role == POINTS else Z_TRIP if p.key == "trip" else Z_DATA
        if tr.role == POINTS:
            style["marker"] = tr.marker
            style["ms"] = 13 if tr.marker == "*" else style["ms"]
            style["clip_on"] = False  # a marker at the top of the range stays whole
        elif zoom is not None and tr.role in (STEP, DATA) and _few(tr.t, zoom):
            style.update(marker="o", ms=2.5)
        t, y = (tr.t, tr.y) if zoom is not None else compact(tr.t, tr.y, repeats=True)
        ax.plot(t, y, color=tr.color, label=tr.label, zorder=z, **style)
    for h in p.hlines:
        ax.axhline(h.y, color=h.color, lw=1.0, ls="-.", label=h.label, zorder=Z_MARKS)
    ax.margins(y=0.1)
    if p.yscale == "log" and p.traces:
        ax.set_yscale("log")
    if p.ylim is not None and p.traces:
        ax.set_ylim(*p.ylim)
    if zoom is not None:
        ax.set_xlim(*zoom)
        _fit_y(ax, p, zoom)
    if not p.traces:
        ax.text(0.5, 0.5, p.empty, transform=ax.transAxes, ha="center", va="center",
                color="0.45", fontsize=9)
    ax.set_ylabel(p.ylabel, fontsize=8.5)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7.5)
    _legend(ax, p, title)


def _few(t: npt.NDArray[np.float64], zoom: tuple[float, float]) -> bool:
    """Few enough samples in the window to mark each (a 500 Hz series would be a smear)."""
    return int(np.count_nonzero((t >= zoom[0]) & (t <= zoom[1]))) <= MAX_MARKED


def _fit_y(ax: Axes, p: Panel, zoom: tuple[float, float]) -> None:
    """Autoscale to the data inside the window (matplotlib's spans all of it)."""
    ys = [tr.y[(tr.t >= zoom[0]) & (tr.t <= zoom[1])] for tr in p.traces]
    ys += [np.array([h.y]) for h in p.hlines]
    vals = np.concatenate(ys) if ys else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if vals.size:
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi), 1e-3) * 0.1
        ax.set_ylim(lo - pad, hi + pad)


def _legend(ax: Axes, p: Panel, title: str) -> None:
    """Above the axes, over no data; what the log lacks is said as an entry of its own."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    if p.bands:
        handles.append(Patch(color=SATURATED_COLOR, alpha=0.8))
        labels.append(p.band_label)
    for note in p.notes:
        handles.append(Line2D([], [], ls="none"))
        labels.append(f"({note})")
    legend_above(ax, handles, labels, title)


def legend_above(ax: Axes, handles: list[Any] | None = None, labels: list[str] | None = None,
                 title: str = "") -> None:
    """The legend in rows above the axes, right-aligned, as many entries a row as fit; a
    ``title`` goes above the legend. Entries in parentheses (notes) in grey italics."""
    if handles is None or labels is None:
        handles, labels = ax.get_legend_handles_labels()
    height_pt = 0.0
    if handles:
        leg = ax.legend(handles, labels, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                        ncol=_legend_columns(ax, labels), fontsize=LEGEND_FONT,
                        frameon=False, borderaxespad=0.1, handlelength=1.8,
                        columnspacing=1.0, handletextpad=0.4)
        for text, label in zip(leg.get_texts(), labels, strict=True):
            if label.startswith("("):
                text.set_color("0.4")
                text.set_fontstyle("italic")
        fig = ax.get_figure()
        assert fig is not None
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        height_pt = leg.get_window_extent(renderer).height * 72 / fig.dpi
    if title:
        ax.set_title(title, fontsize=10, pad=height_pt + 5)


def _legend_columns(ax: Axes, labels: list[str]) -> int:
    """As many entries a row as fit over the axes: one row if it fits, else the fewest
    rows (a legend wider than its axes runs off the figure)."""
    fig = ax.get_figure()
    assert fig is not None
    char_px = LEGEND_FONT * 0.55 * fig.dpi / 72
    entry_px = [(len(label) + 6) * char_px for label in labels]  # + handle and spacing
    avail = ax.get_window_extent().width
    rows = max(1, math.ceil(sum(entry_px) / avail))
    while rows < len(labels) and _widest_row(entry_px, math.ceil(len(labels) / rows)) > avail:
        rows += 1
    return math.ceil(len(labels) / rows)


def _widest_row(entry_px: list[float], ncol: int) -> float:
    """Width of the widest row of a legend of ``ncol`` columns (matplotlib fills columns
    first, and each column is as wide as its widest entry)."""
    nrows = math.ceil(len(entry_px) / ncol)
    cols = [entry_px[i : i + nrows] for i in range(0, len(entry_px), nrows)]
    return sum(max(c) for c in cols)


def shade_modes(ax: Axes, f: Flight) -> None:
    for m in f.modes:
        ax.axvspan(m.t0, m.t1, color=mode_color(m.name), alpha=MODE_ALPHA, lw=0, zorder=Z_BANDS)


def draw_marks(ax: Axes, f: Flight) -> None:
    for m in marks(f):
        ax.axvline(m.t, color=m.color, ls=m.ls, lw=1.1, zorder=Z_MARKS)


def mode_strip(ax: Axes, f: Flight) -> None:
    """The flight modes as labelled coloured spans, and above them the marks' labels, each
    on the first row where it overlaps no other."""
    ax.set_yticks([])
    ax.set_ylim(0, 1)
    ax.tick_params(labelbottom=False, length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if not f.modes:
        ax.text(0.5, 0.5, "no flight modes in this log", transform=ax.transAxes, ha="center",
                va="center", color="0.45", fontsize=8)
    for m in f.modes:
        ax.axvspan(m.t0, m.t1, color=mode_color(m.name), lw=0)
        label = ax.text((m.t0 + m.t1) / 2, 0.5, m.name, ha="center", va="center",
                        fontsize=MODE_FONT, clip_on=True, fontweight="bold", color="0.15")
        _fit_label(ax, label, m.t0, m.t1)
    draw_marks(ax, f)
    _mark_labels(ax, f)


def _mark_labels(ax: Axes, f: Flight) -> None:
    """Labels above the strip: on the line's side, on the lowest free row."""
    fig = ax.get_figure()
    assert fig is not None
    width_px = ax.get_window_extent().width
    lo, hi = ax.get_xlim()
    per_s = width_px / max(hi - lo, 1e-9)
    char_px = 8.0 * 0.6 * fig.dpi / 72  # 8 pt text, a character about 0.6 em wide
    rows: list[list[tuple[float, float]]] = []
    for m in sorted(marks(f), key=lambda m: m.t):
        w = (len(m.label) + 1) * char_px
        x = (m.t - lo) * per_s
        side = m.side
        if side == "right" and x + w > width_px:
            side = "left"  # it would run off the axes (and the figure): the other side
        elif side == "left" and x - w < 0:
            side = "right"
        x0 = x - (w if side == "left" else 0.0)
        span = (x0, x0 + w)
        row = next((i for i, r in enumerate(rows)
                    if all(span[1] < a or span[0] > b for a, b in r)), len(rows))
        if row == len(rows):
            rows.append([])
        rows[row].append(span)
        ax.annotate(m.label, xy=(m.t, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-2 if side == "left" else 2, 2 + 10 * row),
                    textcoords="offset points", ha="right" if side == "left" else "left",
                    va="bottom", color=m.color, fontsize=8, fontweight="bold",
                    annotation_clip=False)


def _fit_label(ax: Axes, label: Text, t0: float, t1: float) -> None:
    """A mode's label wider than its span would run into its neighbour's: smaller, else
    dropped (the events in the text panel still name it)."""
    fig = ax.get_figure()
    assert fig is not None
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    left, right = (ax.transData.transform((t, 0.0))[0] for t in (t0, t1))
    room = right - left - 4
    if label.get_window_extent(renderer).width > room:
        label.set_fontsize(MODE_FONT_SMALL)
        if label.get_window_extent(renderer).width > room:
            label.set_visible(False)
