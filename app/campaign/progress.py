"""The campaign's live progress line on stderr: runs done, runs per minute, false alarms.

On a terminal one line is redrawn (at most 5 times a second); elsewhere (a CI log) a line is
written every ``LOG_EVERY_S`` so the log stays short.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

REDRAW_S = 0.2
LOG_EVERY_S = 30.0


class Progress:
    def __init__(self, total: int, skipped: int, stream: TextIO | None = None) -> None:
        self.total, self.skipped = total, skipped
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.done = self.false_alarms = self.crashes = self.errors = 0
        self._t0 = self._last = time.monotonic()

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        if row.get("status") != "ok":
            self.errors += 1
        elif row.get("crashed"):
            self.crashes += 1
        if row.get("status") == "ok" and row.get("land_now") and not row.get("fault_kinds"):
            self.false_alarms += 1
        now = time.monotonic()
        if now - self._last >= (REDRAW_S if self.tty else LOG_EVERY_S):
            self._last = now
            self._write()

    def line(self) -> str:
        minutes = max(time.monotonic() - self._t0, 1e-9) / 60.0
        rate = self.done / minutes
        left = self.total - self.skipped - self.done
        eta = f", {left / rate:.1f} min left" if rate > 0 and left > 0 else ""
        skipped = f" ({self.skipped} done before)" if self.skipped else ""
        return (f"campaign: {self.skipped + self.done}/{self.total} runs{skipped}, "
                f"{rate:.1f} runs/min, false alarms {self.false_alarms}, crashes "
                f"{self.crashes}, errors {self.errors}{eta}")

    def _write(self) -> None:
        if self.tty:
            print("\r\033[K" + self.line(), end="", file=self.stream, flush=True)
        else:
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            print("\r\033[K" + self.line(), file=self.stream, flush=True)
        else:
            print(self.line(), file=self.stream, flush=True)
