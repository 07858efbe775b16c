"""``flightsw log csv``: one CSV file per topic of a flight log, plus its events.

Text from the log is written as text, never interpreted: a topic name holding '/' stays a
file inside the output directory.
"""

from __future__ import annotations

import csv
import logging
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ground import logdata as ld

log = logging.getLogger(__name__)


def _as_cells(col: npt.NDArray[Any]) -> list[Any]:
    """Cells that read back to the same value: Python's repr of a double and numpy's str of
    a float32 are both the shortest round-trip text (a float32 as a double would print 17
    digits of noise)."""
    if col.dtype.kind == "b":
        return col.astype(np.uint8).tolist()
    if col.dtype.kind == "S":
        return np.char.decode(col, "utf-8", "replace").tolist()
    if col.dtype.kind == "f" and col.dtype.itemsize < 8:
        return col.astype(str).tolist()
    return col.tolist()


def log_csv(path: str | Path, out_dir: str | Path) -> list[Path]:
    """One CSV per topic (``<topic>.csv``; ``<topic>_<multi_id>.csv`` for a second instance):
    a header row, ``timestamp`` (us) first, arrays flattened as ``name[0]``, ``name[1]``...
    Plus ``events.csv`` (timestamp, t_s, level, text). Returns the files written."""
    p = Path(path)
    d = ld.read(p)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ld.LogToolError(f"{out}: cannot create directory: {exc.strerror}") from None
    written: list[Path] = []
    t0 = ld.first_cycle_us(d)
    try:
        for (name, multi), t in sorted(d.topics.items()):
            cols = t.columns()
            names = sorted(cols, key=lambda k: k != "timestamp")  # stable: field order kept
            # a topic name may hold '/' (ULog allows it): escaped, it stays inside out_dir
            stem = urllib.parse.quote(name, safe="")
            target = out / (f"{stem}.csv" if multi == 0 else f"{stem}_{multi}.csv")
            with target.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(names)
                w.writerows(zip(*(_as_cells(cols[k]) for k in names), strict=True))
            written.append(target)
        target = out / "events.csv"
        with target.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "t_s", "level", "text"])
            for s in d.strings:
                w.writerow([s.timestamp_us, f"{(s.timestamp_us - t0) / 1e6:.6f}",
                            ld.LEVEL_NAMES.get(s.level, str(s.level)), s.text])
        written.append(target)
    except OSError as exc:
        raise ld.LogToolError(f"{out}: cannot write CSV: {exc.strerror}") from None
    log.info("wrote %d CSV files to %s", len(written), out)
    return written

