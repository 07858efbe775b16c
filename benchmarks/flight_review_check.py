"""Flight Review on one of our logs: the plots PX4's own log viewer draws from it.

PX4's Flight Review (https://github.com/PX4/flight_review, ``app/plot_app``) is where a PX4
engineer opens a log. This runs its own plot generation, headless, on one of our flight logs
and prints the plots it drew with data, how many, and one JSON line::

    {"bench": "flight_review", "plots": N, "empty": [...], "tables": {...}, ...}

Run:
    .venv/bin/python benchmarks/flight_review_check.py --setup    # once; then without it
    .venv/bin/python benchmarks/flight_review_check.py [--log FILE | --scenario FILE --seed N]

Without ``--log`` it flies ``config/scenarios/nominal_flight6.toml`` (lockstep simulation) with
its log in a temporary directory (``--keep-log PATH`` keeps it). ``make flight-review`` does
both steps; it is not part of ``make test``.

Nothing of Flight Review is copied here. ``--setup`` clones it at ``FLIGHT_REVIEW_COMMIT`` into
the cache directory (``--cache``, default ``~/.cache/flightsw/flight_review``) and makes a venv
there with its ``app/requirements.txt`` through pip, less what plot generation never imports
(``SKIP_REQUIREMENTS``) and with the versions this check was run with (``CONSTRAINTS``). The
clone needs GitHub (``--repo`` takes another URL or a local clone instead); pip needs only the
package index. Flight Review's plot code then runs in that venv as a subprocess
(``flight_review_plots.py``, as its server's ``main.py`` calls ``generate_plots`` for a log).

Exit 0 with the figures when the review is clean: at least ``MIN_PLOTS`` plots drawn with data,
none drawn empty, and no error printed by Flight Review's plot code (its ``Error in ... plot``
lines, which it prints and carries on after). Exit 1 when it is not (the JSON line's
``problems`` say why) or a flight could not be flown; 2 with one line saying why when Flight
Review is not set up, cannot be set up, or fails on the log. Flight Review also downloads
PX4's airframe list to name the airframe; offline that prints ``Download error``, which is
reported but is not a problem with the log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLIGHT_REVIEW_URL = "https://github.com/PX4/flight_review"
FLIGHT_REVIEW_COMMIT = "26c87079f2ae7b98aedd4344ff35a3f769c3de01"  # main, 24 Jun 2026
# In its requirements but never imported by plot generation: a notebook server, a linter, the
# overview image's map tiles and the upload server's HTTP client.
SKIP_REQUIREMENTS = frozenset({"jupyter", "pylint", "smopy", "requests"})
# The versions the check was run with (Flight Review itself pins only bokeh), so another run
# draws with the same code.
CONSTRAINTS = (
    "bokeh==3.8.2", "contourpy==1.3.3", "jinja2==3.1.6", "markupsafe==3.0.4",
    "narwhals==2.29.0", "numpy==2.4.6", "packaging==26.4", "pandas==3.1.1", "pillow==13.0.0",
    "pycryptodome==4.4.0", "pyfftw==0.15.1", "python-dateutil==4.0.0", "pyulog==1.3.0",
    "pyyaml==6.0.4", "scipy==1.17.1", "simplekml==1.3.6", "tornado==6.6.1",
    "tzdata==2026.6", "xyzservices==2026.9.1",
)
DEFAULT_SCENARIO = ROOT / "config" / "scenarios" / "nominal_flight6.toml"
MIN_PLOTS = 15  # the least a PX4 engineer should get from one of our logs (issue 13)
RUNNER = HERE / "flight_review_plots.py"
RESULT_PREFIX = "FLIGHTSW-RESULT "  # flight_review_plots.RESULT_PREFIX (another venv's file)
RUN_TIMEOUT_S = 900
# What plot generation reads of the repository: its Python, its config and its requirements
# (the web server's assets are tens of megabytes of JavaScript and images).
SPARSE = ("/app/*.ini", "/app/requirements.txt", "/app/plot_app/*.py")


class SetupError(Exception):
    """Flight Review is not set up here or cannot be: one line for the user."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flightsw" / "flight_review"


def _run(cmd: list[str], what: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{what}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["failed"]
        raise SetupError(f"{what}: {tail[0]}")
    return done


def _stamp(cache: Path) -> Path:
    return cache / "venv" / ".flightsw-setup"


def _wanted_stamp() -> str:
    pins = hashlib.sha256("\n".join(CONSTRAINTS).encode()).hexdigest()[:12]
    return f"{FLIGHT_REVIEW_COMMIT} {pins}\n"


def venv_python(cache: Path) -> Path:
    return cache / "venv" / "bin" / "python"


def ready(cache: Path) -> bool:
    stamp = _stamp(cache)
    return stamp.is_file() and stamp.read_text() == _wanted_stamp() and \
        venv_python(cache).exists()


def _clone(repo: str, src: Path) -> None:
    """The repository at FLIGHT_REVIEW_COMMIT in ``src`` (cloned once, then only checked out),
    only the files in SPARSE."""
    if not (src / ".git").exists():
        where = "GitHub (the clone needs network access to github.com)" \
            if repo == FLIGHT_REVIEW_URL else repo
        _run(["git", "clone", "--quiet", "--no-checkout", repo, str(src)],
             f"cannot clone Flight Review from {where}", timeout=600)
    _run(["git", "-C", str(src), "sparse-checkout", "set", "--no-cone", *SPARSE],
         "cannot limit Flight Review's checkout to its plot code (git 2.25 or later?)")
    have = subprocess.run(["git", "-C", str(src), "cat-file", "-e",
                           f"{FLIGHT_REVIEW_COMMIT}^{{commit}}"], capture_output=True)
    if have.returncode != 0:
        _run(["git", "-C", str(src), "fetch", "--quiet", repo],
             "cannot fetch Flight Review's pinned commit", timeout=600)
    _run(["git", "-C", str(src), "checkout", "--quiet", "--detach", FLIGHT_REVIEW_COMMIT],
         f"cannot check out Flight Review {FLIGHT_REVIEW_COMMIT[:12]}")


def _requirements(src: Path) -> list[str]:
    """Flight Review's own requirements, less SKIP_REQUIREMENTS."""
    path = src / "app" / "requirements.txt"
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise SetupError(f"Flight Review's {path} is unreadable: {exc.strerror}") from None
    out = []
    for line in lines:
        req = line.split("#")[0].strip()
        name = req.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower()
        if req and name not in SKIP_REQUIREMENTS:
            out.append(req)
    return out


def setup(cache: Path, repo: str) -> None:
    """Clone Flight Review and make its venv (nothing to do when it is there already)."""
    if ready(cache):
        return
    cache.mkdir(parents=True, exist_ok=True)
    src = cache / "src"
    print(f"setting up Flight Review {FLIGHT_REVIEW_COMMIT[:12]} in {cache} ...", flush=True)
    _clone(repo, src)
    reqs = _requirements(src)
    venv.create(cache / "venv", with_pip=True, clear=True)
    constraints = cache / "constraints.txt"
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    _run([str(venv_python(cache)), "-m", "pip", "install", "--quiet", "-c", str(constraints),
          *reqs], "pip could not install Flight Review's requirements", timeout=1800)
    _stamp(cache).write_text(_wanted_stamp())


def fly_log(scenario: Path, seed: int, config: Path | None, path: Path) -> Path:
    """A lockstep flight of ``scenario`` logged to ``path``."""
    from app.boot import prepare
    from app.session import fly

    fly(prepare(config, scenario, seed), log_path=path)
    return path


def review(cache: Path, log: Path) -> tuple[dict[str, Any], list[str]]:
    """Flight Review's plot generation on ``log`` in its venv: the runner's result, and the
    lines Flight Review printed that say something went wrong in it."""
    plot_app = cache / "src" / "app" / "plot_app"
    done = _run([str(venv_python(cache)), str(RUNNER), str(plot_app), str(log.resolve())],
                "Flight Review failed on the log", timeout=RUN_TIMEOUT_S)
    lines = done.stdout.splitlines()
    last = [ln for ln in lines if ln.startswith(RESULT_PREFIX)]
    if not last:
        raise SetupError("Flight Review's plot generation returned no result")
    said = [ln for ln in lines if ln.startswith(("Error", "Warning", "Download error"))]
    result: dict[str, Any] = json.loads(last[-1][len(RESULT_PREFIX):])
    return result, said


def report(result: dict[str, Any], said: list[str], log: Path) -> dict[str, Any]:
    """Print the plots drawn with data and the tables; the JSON line's figures."""
    drawn = [p for p in result["plots"] if any(v > 0 for v in p["values"])]
    empty = [p["title"] for p in result["plots"] if p not in drawn]
    print(f"Flight Review {FLIGHT_REVIEW_COMMIT[:12]} on {log} (MAV type "
          f"{result.get('mav_type')}):")
    print(f"  {len(drawn)} plots drawn with data:")
    for p in drawn:
        lines = sum(1 for v in p["values"] if v > 0)
        print(f"    {p['title']} ({lines} of {p['glyphs']} series, "
              f"{max(p['values'])} values at most)")
    print(f"  {len(empty)} plots drawn empty" + (f": {', '.join(empty)}" if empty else ""))
    for t in result["tables"]:
        print(f"  table {t['title']}: {t['rows']} rows")
        for row in t.get("data", []):
            print("    " + "  ".join(row))
    for line in said:
        print(f"  Flight Review said: {line}")
    found = problems(len(drawn), empty, said)
    for line in found:
        print(f"  PROBLEM: {line}")
    print("  review clean" if not found else f"  {len(found)} problem(s)")
    return {"bench": "flight_review", "plots": len(drawn), "empty": empty,
            "titles": [p["title"] for p in drawn],
            "tables": {t["title"]: t["rows"] for t in result["tables"]},
            "flight_review_said": said, "problems": found, "log": str(log),
            "flight_review_commit": FLIGHT_REVIEW_COMMIT}


def problems(plots: int, empty: list[str], said: list[str]) -> list[str]:
    """What is wrong with a review: too few plots, empty ones, errors in the plot code."""
    found = [f"only {plots} plots drawn with data (want {MIN_PLOTS})"] if plots < MIN_PLOTS else []
    found += [f"plot drawn empty: {title}" for title in empty]
    found += [f"Flight Review printed: {line}" for line in said
              if not line.startswith("Download error")]
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setup", action="store_true",
                    help="clone Flight Review and make its venv first (needs GitHub and PyPI)")
    ap.add_argument("--cache", type=Path, default=default_cache(),
                    help="where Flight Review and its venv live (default %(default)s)")
    ap.add_argument("--repo", default=FLIGHT_REVIEW_URL,
                    help="clone from here instead of GitHub (a URL or a local clone)")
    ap.add_argument("--log", type=Path, help="a flight log to review (default: fly one)")
    ap.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--config", type=Path, help="the flight's config (default config/sim.toml)")
    ap.add_argument("--keep-log", type=Path, help="write the flown log here and keep it")
    args = ap.parse_args(argv)
    try:
        if args.setup:
            setup(args.cache, args.repo)
        elif not ready(args.cache):
            raise SetupError(f"Flight Review is not set up in {args.cache}: run with --setup "
                             f"(clones {FLIGHT_REVIEW_URL}: needs GitHub, then PyPI)")
        with tempfile.TemporaryDirectory(prefix="flight_review_") as tmp:
            log = args.log
            if log is None:
                log = args.keep_log or Path(tmp) / f"{args.scenario.stem}_s{args.seed}.ulg"
                print(f"flying {args.scenario.name} (seed {args.seed}) ...", flush=True)
                try:
                    fly_log(args.scenario, args.seed, args.config, log)
                except Exception as exc:  # a config or scenario error, a broken flight
                    print(f"flight_review_check: the flight failed: {exc}", file=sys.stderr)
                    return 1
            elif not log.is_file():
                print(f"flight_review_check: no log {log}", file=sys.stderr)
                return 2
            result, said = review(args.cache, log)
            out = report(result, said, log)
            print(json.dumps(out))
            if out["problems"]:
                return 1
    except SetupError as exc:
        print(f"flight_review_check: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
