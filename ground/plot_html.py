"""``flightsw log plot --html``: the anomaly figure's panels as one interactive page (Plotly),
to zoom into the event sample by sample.

The page draws the same ``plot_series`` panels as the PNG, stacked on one time axis (a zoom
or pan in one moves all), with the mode strip on top, the mode bands, the fault / LAND_NOW /
touchdown lines, and the ground track at the bottom. It is one self-contained file (Plotly's
script inside): a ground laptop in the field has no network.

Plotly is the optional extra ``html``, imported only here and only when a page is asked for.
The page holds each line at full rate up to ``MAX_POINTS`` points; a longer one keeps each
time bin's lowest and highest value, so no spike is lost, and held values (a 500 Hz record of
a 30 Hz check) lose only their repeats. Text from the log is escaped: it is shown, never
interpreted.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ground import logdata as ld
from ground import plot_series as ps
from ground.plot_flight import Flight, headline, marks, mode_color

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

F64 = npt.NDArray[np.float64]
MAX_POINTS = ps.MAX_POINTS
PANEL_PX, STRIP_PX, TRACK_PX = 190, 60, 480
MIN_LABELLED = 0.04  # of the flight: a mode span labelled in the strip at full width
NEEDS = "log plot --html needs Plotly: pip install 'flightsw[html]'"
DASH = {ps.SETPOINT: "dot", ps.TRUTH: "dash"}
WIDTH = {ps.EST: 1.6, ps.SETPOINT: 2.0, ps.TRUTH: 1.2, ps.DATA: 1.1, ps.STEP: 1.3}
SYMBOL = {"*": "star", "v": "triangle-down", "o": "circle"}


def require_plotly() -> None:
    """``LogToolError`` in one line if Plotly is not installed."""
    try:
        import plotly.graph_objects
        import plotly.subplots  # noqa: F401
    except ImportError:
        raise ld.LogToolError(NEEDS) from None


def html_page(f: Flight, out: str | Path, source: str = "") -> Path:
    """Write the page; ``LogToolError`` naming the file if it cannot be written."""
    fig = page(f, source)
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.write_html(path, include_plotlyjs=True, full_html=True,
                       config={"scrollZoom": True, "displaylogo": False})
    except OSError as exc:
        raise ld.LogToolError(f"{path}: cannot write the page: {exc.strerror}") from None
    return path


def panels(f: Flight) -> list[ps.Panel]:
    """The PNG's time panels in the order an investigation reads them: what tripped, the
    vehicle's response, then where it went."""
    left, right = ps.columns(f)
    by_key = {p.key: p for p in left + right}
    first = ["trip", "checks", "latency"]
    return [by_key[k] for k in first] + [p for p in right + left if p.key not in first]


class Layer:
    """Shapes and annotations gathered, then set at once: Plotly's add_vrect / add_vline
    validate the whole layout on every call (seconds per panel)."""

    def __init__(self) -> None:
        self.shapes: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def vrect(self, row: int, x0: float, x1: float, color: str, opacity: float,
              y0: float = 0.0, y1: float = 1.0, below: bool = True) -> None:
        self.shapes.append({"type": "rect", "xref": _axis("x", row),
                            "yref": f"{_axis('y', row)} domain", "x0": x0, "x1": x1,
                            "y0": y0, "y1": y1, "fillcolor": color, "opacity": opacity,
                            "line": {"width": 0}, "layer": "below" if below else "above"})

    def vline(self, row: int, x: float, color: str, dash: str, width: float) -> None:
        self.shapes.append({"type": "line", "xref": _axis("x", row),
                            "yref": f"{_axis('y', row)} domain", "x0": x, "x1": x, "y0": 0.0,
                            "y1": 1.0, "line": {"color": color, "dash": dash, "width": width}})

    def text(self, row: int, text: str, x: float, y: float, x_domain: bool = False,
             **style: Any) -> None:
        """``y`` a fraction of the panel's height; ``x`` of its width if ``x_domain``."""
        xa, ya = _axis("x", row), _axis("y", row)
        self.annotations.append({"text": text, "showarrow": False, "x": x, "y": y,
                                 "xref": f"{xa} domain" if x_domain else xa,
                                 "yref": f"{ya} domain", **style})


def _axis(letter: str, row: int) -> str:
    """Plotly's name of the axis of subplot ``row`` (one column: x, x2, x3...)."""
    return letter if row == 1 else f"{letter}{row}"


def page(f: Flight, source: str = "") -> Figure:
    """The page's figure: mode strip, time panels, track."""
    require_plotly()
    from plotly.subplots import make_subplots

    time_panels = panels(f)
    n = len(time_panels)
    heights = [STRIP_PX] + [PANEL_PX] * n + [TRACK_PX]
    fig = make_subplots(rows=n + 2, cols=1, row_heights=heights,
                        vertical_spacing=40 / sum(heights))
    layer = Layer()
    for row, panel in enumerate(time_panels, start=2):
        _panel(fig, layer, row, panel, f)
    _strip(fig, layer, f)
    _track(fig, n + 2, f)
    fig.update_layout(shapes=layer.shapes, annotations=layer.annotations)
    t_lo = min(0.0, min((m.t0 for m in f.modes), default=0.0))
    t_range = [t_lo, max(f.t_end, t_lo + 1e-3)]
    fig.update_xaxes(range=t_range, showticklabels=False, row=1, col=1)
    for row in range(2, n + 2):  # one time axis: a zoom in any panel moves all
        fig.update_xaxes(matches="x", range=t_range, showticklabels=True, row=row, col=1,
                         title_text=f.time_label if row == n + 1 else None)
    title = f"<b>{_esc(headline(f))}</b><br>{_esc(f.outcome)}"
    if source:
        title += f"<br><span style='font-size:11px;color:#666'>{_esc(source)}</span>"
    fig.update_layout(title={"text": title, "x": 0.5}, height=sum(heights) + 200,
                      template="plotly_white", hovermode="x unified",
                      margin={"l": 80, "r": 260, "t": 130, "b": 40})
    return fig


def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


def _panel(fig: Figure, layer: Layer, row: int, p: ps.Panel, f: Flight) -> None:
    import plotly.graph_objects as go

    legend = f"legend{row}"
    for tr in p.traces:
        t, y = (a.astype(np.float32) for a in ps.compact(tr.t, tr.y))
        fig.add_trace(go.Scattergl(x=t, y=y, name=_esc(tr.label), legend=legend,
                                   **_style(tr)), row=row, col=1)
    lo, hi = (f.modes[0].t0, f.modes[-1].t1) if f.modes else (0.0, f.t_end)
    for h in p.hlines:
        fig.add_trace(go.Scattergl(x=[lo, hi], y=[h.y, h.y], name=_esc(h.label), legend=legend,
                                   mode="lines", line={"color": h.color, "dash": "dashdot",
                                                       "width": 1.2}), row=row, col=1)
    for note in p.notes:  # what the log lacks: an entry of the panel's legend
        fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers", legend=legend,
                                   name=f"<i>({_esc(note)})</i>",
                                   marker={"opacity": 0}), row=row, col=1)
    for a, b in p.bands:
        layer.vrect(row, a, max(b, a + 1e-3), ps.SATURATED_COLOR, 0.8, y0=0.93, below=False)
    if p.traces and p.band_label and p.bands:
        fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers", legend=legend,
                                   name=_esc(p.band_label), marker={
                                       "symbol": "square", "color": ps.SATURATED_COLOR}),
                      row=row, col=1)
    _bands_and_marks(layer, row, f)
    _axes(fig, row, p)
    if not p.traces:
        layer.text(row, _esc(p.empty), 0.5, 0.5, x_domain=True, font={"color": "#777"})
    _place_legend(fig, row, legend)


def _style(tr: ps.Trace) -> dict[str, Any]:
    if tr.role == ps.POINTS:
        return {"mode": "markers", "marker": {
            "symbol": SYMBOL.get(tr.marker, "circle"), "size": 16 if tr.marker == "*" else 10,
            "color": tr.color, "line": {"color": "black", "width": 1}}}
    if tr.role == ps.SAMPLES:
        return {"mode": "markers", "marker": {"size": 2, "color": tr.color}}
    line: dict[str, Any] = {"color": tr.color, "width": WIDTH.get(tr.role, 1.2)}
    if tr.role in DASH:
        line["dash"] = DASH[tr.role]
    if tr.role == ps.STEP:
        line["shape"] = "hv"
    return {"mode": "lines", "line": line}


def _axes(fig: Figure, row: int, p: ps.Panel) -> None:
    y: dict[str, Any] = {"title_text": _esc(p.ylabel).replace("\n", "<br>"),
                         "title_font": {"size": 11}}
    if p.yscale == "log":
        y["type"] = "log"
        if p.ylim is not None:
            y["range"] = [float(np.log10(p.ylim[0])), float(np.log10(p.ylim[1]))]
    elif p.ylim is not None and p.traces:
        y["range"] = list(p.ylim)
    fig.update_yaxes(row=row, col=1, **y)


def _place_legend(fig: Figure, row: int, legend: str) -> None:
    """Each panel's legend beside it, right of the plot area: over no data."""
    top = fig.get_subplot(row, 1).yaxis.domain[1]
    fig.update_layout({legend: {"x": 1.01, "y": top, "xanchor": "left", "yanchor": "top",
                                "font": {"size": 10}, "tracegroupgap": 0}})


def _bands_and_marks(layer: Layer, row: int, f: Flight) -> None:
    for m in f.modes:
        layer.vrect(row, m.t0, m.t1, mode_color(m.name), 0.25)
    for mk in marks(f):
        layer.vline(row, mk.t, mk.color, _dash(mk.ls), 1.3)


def _dash(ls: str) -> str:
    return {"--": "dash", "-.": "dashdot", ":": "dot"}.get(ls, "solid")


def _strip(fig: Figure, layer: Layer, f: Flight) -> None:
    """Row 1: the modes as labelled spans (hover names each), the marks' labels above."""
    import plotly.graph_objects as go

    for m in f.modes:
        layer.vrect(1, m.t0, m.t1, mode_color(m.name), 1.0)
        # a name wider than its span would run into the next one's: only hover tells it
        wide = m.t1 - m.t0 >= MIN_LABELLED * max(f.t_end, 1e-3)
        fig.add_trace(go.Scatter(x=[(m.t0 + m.t1) / 2], y=[0.5], mode="text",
                                 text=[f"<b>{_esc(m.name)}</b>" if wide else ""],
                                 showlegend=False,
                                 hovertext=f"{_esc(m.name)} {m.t0:.3f} .. {m.t1:.3f} s",
                                 hoverinfo="text", textfont={"size": 10}), row=1, col=1)
    for k, mk in enumerate(sorted(marks(f), key=lambda m: m.t)):
        layer.vline(1, mk.t, mk.color, _dash(mk.ls), 1.5)
        layer.text(1, f"<b>{_esc(mk.label)}</b>", mk.t, 1.0, yanchor="bottom",
                   xanchor="right" if mk.side == "left" else "left",
                   font={"color": mk.color, "size": 11}, yshift=2 + 14 * (k % 3))
    fig.update_yaxes(visible=False, range=[0, 1], fixedrange=True, row=1, col=1)
    fig.update_xaxes(showgrid=False, row=1, col=1)
    if not f.modes:
        layer.text(1, "no flight modes in this log", 0.5, 0.5, x_domain=True)


def _track(fig: Figure, row: int, f: Flight) -> None:
    """The ground track against the plan (east right, north up, one metre as long on both)."""
    import plotly.graph_objects as go

    plan = ld.plan_points(f.d)
    legend = f"legend{row}"
    if plan:
        pn, pe = zip(*plan, strict=True)
        fig.add_trace(go.Scatter(x=list(pe), y=list(pn), name="plan", legend=legend,
                                 mode="lines+markers", line={"color": "#8c8c8c"}),
                      row=row, col=1)
    for s, name, style in ((f.truth, "truth", {"color": "black", "dash": "dash"}),
                           (f.state, "estimate", {"color": ps.EST_COLOR})):
        if s.has("position", 3):
            e, n = compact_xy(s.col("position", 1), s.col("position", 0))
            fig.add_trace(go.Scattergl(x=e, y=n, name=name, legend=legend, mode="lines",
                                       line=style), row=row, col=1)
    fig.update_xaxes(title_text="east [m]", row=row, col=1)
    fig.update_yaxes(title_text="north [m]", scaleanchor=f"x{row}", row=row, col=1)
    _place_legend(fig, row, legend)


def compact_xy(x: F64, y: F64) -> tuple[F64, F64]:
    """A track thinned to at most ``MAX_POINTS`` points by taking every k-th."""
    k = max(1, len(x) // MAX_POINTS)
    return x[::k], y[::k]
