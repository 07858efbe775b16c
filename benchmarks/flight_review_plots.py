"""Runs inside Flight Review's own venv (``flight_review_check.py`` starts it): Flight Review's
plot generation on one log, and what it drew.

    <flight review venv>/bin/python flight_review_plots.py PLOT_APP_DIR LOG

It does what Flight Review's server (``plot_app/main.py``) does for a log it shows, without
the server: load the log with Flight Review's loader, make its ``PX4ULog`` with roll, pitch and
yaw, and call ``configured_plots.generate_plots``. Then it walks the bokeh models that came
back: each plot with its title and how many finite values each of its glyphs holds, and each
table with its rows. The last line of stdout is one JSON object (``RESULT_PREFIX``); what
Flight Review printed itself (its own "Error in ... plot" lines) goes before it.

Only the standard library, bokeh and numpy of that venv: it must not import our project.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from types import SimpleNamespace
from typing import Any

RESULT_PREFIX = "FLIGHTSW-RESULT "
# Flight Review fetches PX4's parameters.xml and airframes.xml for its tables and carries on
# without them on an error: with no network, fail in seconds, not at the OS's timeout.
NETWORK_TIMEOUT_S = 5.0
TIME_COLUMNS = ("timestamp", "index")
SHOW_ROWS = 20  # a table this short comes back whole (the logged messages, with their times)


def finite_values(data: dict[str, Any]) -> int:
    """The most finite numbers any one non-time column of a glyph's data holds."""
    import numpy as np

    most = 0
    for name, column in data.items():
        if name in TIME_COLUMNS:
            continue
        try:
            values = np.asarray(column, dtype=float)
        except (TypeError, ValueError):
            continue
        most = max(most, int(np.isfinite(values).sum()))
    return most


def plot_entry(plot: Any) -> dict[str, Any]:
    """A bokeh plot: its title (its legend's labels when it has none: the local position
    map) and its glyphs' sizes."""
    from bokeh.models import ColumnDataSource, GlyphRenderer

    title = plot.title.text if plot.title is not None and plot.title.text else ""
    if not title:
        labels = [getattr(item.label, "value", None) or str(item.label)
                  for legend in plot.legend for item in legend.items]
        title = f"(untitled: {', '.join(labels) or 'no legend'})"
    glyphs = [finite_values(r.data_source.data) for r in plot.renderers
              if isinstance(r, GlyphRenderer) and isinstance(r.data_source, ColumnDataSource)]
    return {"title": title, "glyphs": len(glyphs), "values": glyphs}


def table_entries(model: Any) -> list[dict[str, Any]]:
    """The tables under one returned model, titled by the Div that precedes them; a short
    one with its rows as Flight Review shows them."""
    from bokeh.models import DataTable, Div

    out = []
    heading = ""
    for m in model.select({"type": Div}):
        heading = m.text.split("</b>")[0].replace("<b>", "").strip()
    for m in model.select({"type": DataTable}):
        data = m.source.data
        rows = len(next(iter(data.values()), []))
        entry: dict[str, Any] = {"title": heading, "columns": [c.title for c in m.columns],
                                 "rows": rows}
        if rows <= SHOW_ROWS:
            cols = [data[c.field] for c in m.columns]
            entry["data"] = [[str(col[i]) for col in cols] for i in range(rows)]
        out.append(entry)
    return out


def run(plot_app: str, log: str) -> dict[str, Any]:
    sys.path.insert(0, plot_app)
    os.chdir(plot_app)  # its config reads ../config_default.ini relative to itself
    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)
    from bokeh.io import curdoc
    from bokeh.models import Plot
    from configured_plots import generate_plots
    from db_entry import DBData
    from helper import load_ulog_file
    from pyulog.px4 import PX4ULog

    # generate_plots reads the browser's User-Agent from the server session's request; there
    # is no server here, so the document gets a request with no headers
    request = SimpleNamespace(request=SimpleNamespace(headers={}))
    type(curdoc()).session_context = property(lambda self: request)
    ulog = load_ulog_file(log)
    px4_ulog = PX4ULog(ulog)
    px4_ulog.add_roll_pitch_yaw()
    models = generate_plots(ulog, px4_ulog, DBData(), None, "3d?log=check",
                            "?plots=pid_analysis&log=check")
    plots: list[dict[str, Any]] = []
    tables: list[dict[str, Any]] = []
    for model in models:
        plots += [plot_entry(p) for p in model.select({"type": Plot})]
        tables += table_entries(model)
    return {"plots": plots, "tables": tables, "mav_type": px4_ulog.get_mav_type()}


if __name__ == "__main__":
    result = run(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result))
