"""pyulog's own command-line tools run on a log, as a PX4 engineer would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent  # the tools pyulog installed beside this interpreter


def pyulog_tool_problems(log: Path, csv_dir: Path) -> list[str]:
    """Run ulog_info, ulog_params, ulog_messages and ulog2csv on ``log``; each run that fails,
    prints a traceback or an error, as '<tool>: <what>' (empty: all ran clean)."""
    problems = []
    for tool, extra in (("ulog_info", []), ("ulog_params", []), ("ulog_messages", []),
                        ("ulog2csv", ["-o", str(csv_dir)])):
        p = subprocess.run([str(BIN / tool), *extra, str(log)], capture_output=True,
                           text=True, timeout=120)
        text = p.stdout + p.stderr
        if p.returncode != 0:
            problems.append(f"{tool}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
        elif "Traceback" in text or "rror" in p.stderr:
            problems.append(f"{tool}: {p.stderr.strip()[-300:]}")
    if not any(csv_dir.glob("*.csv")):
        problems.append("ulog2csv: wrote no CSV")
    return problems
