"""``flightsw`` run in process, its exit code and output captured (for the command-line tests)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from app.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(*argv: str | Path) -> Run:
    """``flightsw`` in process; any exception other than SystemExit escapes to the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Run(code, out.getvalue(), err.getvalue().strip())
