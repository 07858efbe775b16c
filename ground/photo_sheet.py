"""The contact sheet of ``flightsw photos``: one PNG with the ground track, each photo's
position and footprint on the map, and the photos themselves beside it.

Left, the map (east across, north up, metres): the estimated track, the true one dashed where
the log has truth, each photo's position numbered by its seq and its footprint on flat ground
at its own ground level (``PhotoRecord.footprint``). Right, a tile a photo in log order, its
seq in the colour of its footprint, labelled with its time, height above ground and, with
truth, its geotag error; a failed, missing or unreadable photo is an empty tile that says so.
The layout is sized by the count: 1 to ~30 photos stay readable on one page; past
MAX_TILES only the first have tiles (the map and the listing have them all).

matplotlib (the ``plot`` extra) is imported only here and only when a sheet is drawn; text
from the log is drawn as text (no mathtext).
"""

from __future__ import annotations

import importlib
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ground import logdata as ld
from ground.photos import FlightPhotos, PhotoRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

DPI = 100
WIDTH_IN = 16.0
MAP_WIDTH_IN = 7.0  # the rest is tiles
MIN_HEIGHT_IN = 7.5
HEADER_IN = 0.9
LABEL_IN = 0.55  # two lines of label under a tile
MAX_COLUMNS = 5
# Tiles on one page at most (12 rows of 5, ~23 in tall); the map still shows every photo. A
# longer series would make a page too tall to view and to hold in memory.
MAX_TILES = 60
THUMB_PX = 480  # a thumbnail's longer side: a tile is at most ~400 px across at DPI
# tab10, skipping its grey (a failed photo's colour)
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#bcbd22", "#17becf")
EST_COLOR = "#1f77b4"
FAILED_COLOR = "#7f7f7f"
EMPTY_TILE = "#ececec"
FOOTPRINT_ALPHA = 0.12


def require_matplotlib() -> None:
    """A one-line ``LogToolError`` now, before a log is read for nothing, if it is missing."""
    try:
        for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
            importlib.import_module(name)
    except ImportError:
        raise ld.LogToolError("the photos' contact sheet needs matplotlib: "
                              "pip install 'flightsw[plot]' (or --no-sheet)") from None


def write_sheet(fp: FlightPhotos, out_png: str | Path) -> Path:
    """Draw the sheet and write it as PNG (its directory made if needed)."""
    fig = sheet_figure(fp)
    out = ld.save_png(fig, out_png)
    log.info("wrote %s", out)
    return out


def columns_for(n: int) -> int:
    """Tiles a row: near-square grids, two at least (one photo stays a moderate tile)."""
    return min(MAX_COLUMNS, max(2, math.ceil(math.sqrt(max(n, 1)))))


def sheet_figure(fp: FlightPhotos) -> Figure:
    """The whole sheet, not yet written."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = fp.photos[:MAX_TILES]
    n = len(shown)
    cols = columns_for(n)
    rows = max(1, math.ceil(n / cols))
    tile_w = (WIDTH_IN - MAP_WIDTH_IN - 0.6) / cols
    tile_h = tile_w * 0.75 + LABEL_IN
    height = max(MIN_HEIGHT_IN, rows * tile_h + HEADER_IN + 0.3)
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(fig)
    top = 1.0 - HEADER_IN / height
    split = MAP_WIDTH_IN / WIDTH_IN
    map_ax = fig.add_axes((0.05, 0.06 * MIN_HEIGHT_IN / height, split - 0.08,
                           top - 0.1 * MIN_HEIGHT_IN / height))
    _map(map_ax, fp)
    tiles = fig.add_gridspec(rows, cols, left=split + 0.01, right=0.99, top=top,
                             bottom=0.3 / height, hspace=LABEL_IN / (tile_h - LABEL_IN),
                             wspace=0.06)
    for i, p in enumerate(shown):
        _tile(fig.add_subplot(tiles[i // cols, i % cols]), p, _color(i), fp.has_truth)
    fig.suptitle(_headline(fp), fontsize=13, fontweight="bold", y=1.0 - 0.15 / height,
                 va="top", parse_math=False)
    return fig


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _headline(fp: FlightPhotos) -> str:
    n = len(fp.photos)
    written = sum(p.written for p in fp.photos)
    text = (f"{fp.log_path.name}: {n} photo{'s' if n != 1 else ''} ({written} written, "
            f"{n - written} failed)")
    errs = [e for p in fp.photos if (e := p.position_error_m) is not None]
    atts = [a for p in fp.photos if (a := p.attitude_error_deg) is not None]
    if errs and atts:
        text += (f", geotag error median {float(np.median(errs)):.2f} m, "
                 f"{float(np.median(atts)):.2f}\u00b0")
    if n > MAX_TILES:
        text += f"; tiles for the first {MAX_TILES}"
    return text


def _map(ax: Axes, fp: FlightPhotos) -> None:
    from matplotlib.patches import Polygon

    if fp.truth is not None:
        src = fp.truth.source
        ax.plot(fp.truth.east, fp.truth.north, color="k", lw=1.0, ls="--",
                label="truth" if src == "truth" else f"truth ({src})")
    if fp.estimate is not None:
        ax.plot(fp.estimate.east, fp.estimate.north, color=EST_COLOR, lw=1.3,
                label=f"estimate ({fp.estimate.source})")
    drawn_footprint = False
    fill = FOOTPRINT_ALPHA if len(fp.photos) <= 8 else FOOTPRINT_ALPHA / 2  # many overlap
    for i, p in enumerate(fp.photos):
        n, e = p.position[0], p.position[1]
        if not (math.isfinite(n) and math.isfinite(e)):
            continue
        color = _color(i) if p.written else FAILED_COLOR
        outline = p.footprint() if p.written else None
        if outline is not None:
            ax.add_patch(Polygon([(pe, pn) for pn, pe in outline], closed=True,
                                 facecolor=color, alpha=fill, edgecolor=color, lw=1.0,
                                 label=None if drawn_footprint else "footprint"))
            drawn_footprint = True
        ax.plot(e, n, "o" if p.written else "x", color=color, ms=6, mec="w" if p.written
                else color, mew=0.8 if p.written else 1.8, zorder=4)
        ax.annotate(str(p.seq), (e, n), xytext=(4, 4), textcoords="offset points",
                    fontsize=8, color=color, fontweight="bold", zorder=5)
    if fp.estimate is None and fp.truth is None:
        ax.text(0.5, 0.02, "no track in this log", transform=ax.transAxes, ha="center",
                va="bottom", color="0.45", fontsize=8)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("east [m]", fontsize=9)
    ax.set_ylabel("north [m]", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("ground track, photos and their footprints\n(flat ground at each photo's "
                 "ground level: down + height above ground)", fontsize=9, parse_math=False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best", framealpha=0.8)


def _tile(ax: Axes, p: PhotoRecord, color: str, truth: bool) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    img = _thumbnail(p) if p.written and p.jpeg_status == "present" else None
    if img is not None:
        ax.imshow(img, interpolation="antialiased")
    else:
        why = ("failed" if not p.written else
               "JPEG missing" if p.jpeg_status == "missing" else "JPEG unreadable")
        ax.set_facecolor(EMPTY_TILE)
        ax.set_xlim(0, 4)
        ax.set_ylim(3, 0)
        ax.set_aspect("equal")
        ax.text(2, 1.5, why, ha="center", va="center", fontsize=10, color="0.35",
                parse_math=False)
    ax.set_title(f"#{p.seq}", loc="left", fontsize=9, fontweight="bold",
                 color=color if p.written else FAILED_COLOR, pad=2)
    line2 = ""
    if truth:
        pe, ae = p.position_error_m, p.attitude_error_deg
        line2 = ("geotag " + ("-" if pe is None else f"{pe:.2f} m") + ", "
                 + ("-" if ae is None else f"{ae:.2f}\u00b0"))
    ax.set_xlabel(f"{p.t_s:.2f} s, {p.height_agl_m:.1f} m AGL, {p.reason}"
                  + (f"\n{line2}" if line2 else ""), fontsize=7.5, labelpad=2,
                  parse_math=False)


def _thumbnail(p: PhotoRecord) -> Any:
    """The JPEG scaled down as an RGB array, or None when it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p.jpeg_path) as im:
            im.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG: decode at a reduced scale
            rgb = im.convert("RGB")
            rgb.thumbnail((THUMB_PX, THUMB_PX))
            return np.asarray(rgb)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("%s: cannot decode: %s", p.jpeg_path, exc)
        return None
