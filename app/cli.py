"""``flightsw``: the one command-line entry point (also ``python -m app``).

Exit status: 0 on the ground uncrashed, 1 crashed (or not on the ground), 2 usage or
configuration error (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.tomlschema import ConfigError, one_line

if TYPE_CHECKING:  # the flight's modules load only for the subcommand that needs them
    from app.summary import FlightSummary

SEED_LIMIT = 2**32  # a seed is 32 bits, as numpy's legacy seeding and most tools take it
MAX_SECONDS = 3600.0
# ``log plot --html`` without a path: the page goes beside the PNG
_SAME_AS_PNG = Path("<the PNG's path with .html>")


def _seed(text: str) -> int:
    """``--seed``: an integer 0 <= seed < 2**32 (argparse reports anything else, exit 2)."""
    try:
        value = int(text)
    except ValueError:  # not a number, or past the int-conversion digit limit
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(
            f"must be 0 .. {SEED_LIMIT - 1} (got {one_line(text[:40])})")
    return value


def _seconds(text: str) -> float:
    """``--seconds``: a finite duration, 0 < s <= an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(
            f"must be a duration 0 < s <= {MAX_SECONDS:g} (got {one_line(text[:40])})")
    return value


def _search_ms(text: str) -> float:
    """``--search-ms``: 2 .. 500 ms."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not (math.isfinite(value) and 2 <= value <= 500):
        raise argparse.ArgumentTypeError(f"must be 2 .. 500 ms (got {one_line(text[:40])})")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flightsw", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    fly = sub.add_parser("fly", help="fly a scenario (default: simulated Ingenuity flight 6)")
    fly.add_argument("--config", type=Path, help="flight configuration TOML (default sim)")
    fly.add_argument("--scenario", type=Path, help="scenario TOML (default flight6)")
    fly.add_argument("--seed", type=_seed, default=1, help="0 .. 2**32-1")
    fly.add_argument("--log", type=Path,
                     help="flight log path (ULog); default: a timestamped file in the log dir")
    fly.add_argument("--no-log", action="store_true", help="write no flight log")
    fly.add_argument("--summary-json", type=Path, help="write the summary as one JSON object")
    fly.add_argument("--no-contingency", action="store_true",
                     help="disable the contingency watchdog (shows the hazard)")
    fly.add_argument("--quiet", action="store_true", help="no status line, summary only")
    fly.add_argument("--arm", action="store_true",
                     help="rig: make the motor outputs live (they must also be enabled in config)")
    pf = sub.add_parser("preflight", help="check config, devices, loop rate, log dir, outputs")
    pf.add_argument("--config", type=Path, help="flight configuration TOML (default sim)")
    pf.add_argument("--seconds", type=_seconds, default=3.0,
                    help="how long to run the loop (at most an hour)")
    bn = sub.add_parser("bench", help="identify and measure the devices of a hardware backend")
    bn.add_argument("what", choices=["i2c", "camera"])
    bn.add_argument("--config", type=Path, help="hil or rig configuration (default hil)")
    bn.add_argument("--seconds", type=_seconds, default=5.0, help="at most an hour")
    bn.add_argument("--json", action="store_true", help="also print the figures as JSON")
    rp = sub.add_parser("replay", help="feed a flight log back through navigation and the "
                        "watchdog; tell when (or whether) LAND_NOW fires")
    rp.add_argument("file", type=Path)
    rp.add_argument("--config", type=Path,
                    help="take the [contingency] thresholds from this file (all else as logged)")
    lg = sub.add_parser("log", help="flight log tools")
    lsub = lg.add_subparsers(dest="log_command", required=True)
    li = lsub.add_parser("info", help="duration, topics and rates, events, LAND_NOW, dropouts")
    li.add_argument("file", type=Path)
    li.add_argument("--json", action="store_true", help="one JSON object instead of text")
    lc = lsub.add_parser("csv", help="one CSV per topic")
    lc.add_argument("file", type=Path)
    lc.add_argument("-o", "--out", type=Path, required=True, help="output directory")
    lp = lsub.add_parser("plot", help="an anomaly-report figure (needs matplotlib)")
    lp.add_argument("file", type=Path)
    lp.add_argument("-o", "--out", type=Path, required=True, help="output PNG")
    lp.add_argument("--html", type=Path, nargs="?", const=_SAME_AS_PNG, metavar="PAGE",
                    help="also an interactive page to zoom in (needs Plotly); default: the "
                    "PNG's path with .html")
    ph = sub.add_parser("photos", help="a flight's photos: list them and draw a contact sheet "
                        "(the sheet needs matplotlib)")
    ph.add_argument("file", type=Path)
    ph.add_argument("-o", "--out", type=Path,
                    help="contact sheet PNG (default <log stem>_photos/contact_sheet.png)")
    ph.add_argument("--json", action="store_true", help="one JSON list of the photos")
    ph.add_argument("--no-sheet", action="store_true", help="list only, write no sheet")
    cal = sub.add_parser("calibrate", help="calibrations from a flight log")
    csub = cal.add_subparsers(dest="calibrate_command", required=True)
    ci = csub.add_parser("camera-imu", help="the camera-IMU time offset, from image motion "
                         "against the gyro; prints the config line to use")
    ci.add_argument("file", type=Path)
    ci.add_argument("--plot", type=Path, help="also plot the correlation used (PNG)")
    ci.add_argument("--search-ms", type=_search_ms, default=200.0,
                    help="candidates span +- this (default 200)")
    ci.add_argument("--json", action="store_true", help="one JSON object instead of text")
    from app.campaign.command import add_parser as add_campaign_parser

    add_campaign_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the flight's own events (modes, LAND_NOW, crashes) reach the operator as events and in
    # the summary; as log records too they would be printed twice
    for name in ("firmware.flight", "firmware.contingency"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        if args.command == "fly":
            return _fly(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "preflight":
            return _preflight(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "log":
            return _log(args)
        if args.command == "calibrate":
            return _calibrate(args)
        if args.command == "photos":
            return _photos(args)
        if args.command == "campaign":
            from app.campaign.command import campaign_command

            return campaign_command(args, human_summary)
    except ConfigError as exc:
        print(f"flightsw: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"flightsw: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    return 2


def _preflight(args: argparse.Namespace) -> int:
    from app.boot import CONFIG_DIR, prepare
    from app.preflight import preflight

    setup = prepare(args.config, CONFIG_DIR / "scenarios" / "nominal_hover.toml", 1)
    report = preflight(setup, args.seconds)
    print(f"preflight ({setup.cfg.backend} backend, {args.seconds:g} s of loop):")
    print("\n".join(report.lines()))
    print("READY TO ARM" if report.ok else "NOT READY: " +
          ", ".join(c.name for c in report.failures()))
    return 0 if report.ok else 1


def _bench(args: argparse.Namespace) -> int:
    from app.bench import bench

    report = bench(args.config, args.what, args.seconds)
    print("\n".join(report.lines))
    if args.json:
        print(json.dumps(report.figures))
    return 0 if report.ok else 1


def _replay(args: argparse.Namespace) -> int:
    from firmware.config import load_config
    from ground.logfile import LogFileError
    from ground.replay import describe, replay

    cfg = load_config(args.config) if args.config else None
    try:
        result = replay(args.file, cfg)
    except LogFileError as exc:
        raise ConfigError(f"{args.file}: not a readable ULog file: {exc}") from None
    print(describe(result))
    return 0


def _log(args: argparse.Namespace) -> int:
    from ground.logcsv import log_csv
    from ground.logdata import LogToolError
    from ground.loginfo import log_info, log_info_dict
    from ground.logplot import log_plot

    try:
        if args.log_command == "info":
            if args.json:
                print(json.dumps(log_info_dict(args.file)))
            else:
                print(log_info(args.file))
        elif args.log_command == "csv":
            paths = log_csv(args.file, args.out)
            print(f"wrote {len(paths)} files to {args.out}")
        else:
            page = args.out.with_suffix(".html") if args.html is _SAME_AS_PNG else args.html
            if page is not None and page.resolve() == args.out.resolve():
                raise ConfigError(f"{page}: the page would overwrite the PNG; name it "
                                  "(--html PAGE)")
            print(f"wrote {log_plot(args.file, args.out, page)}")
            if page is not None:
                print(f"wrote {page}")
    except LogToolError as exc:
        raise ConfigError(str(exc)) from None
    return 0


def _photos(args: argparse.Namespace) -> int:
    """Exit 0 with or without photos; 2 for a log it cannot read (one line)."""
    from ground.logdata import LogToolError
    from ground.photos import default_sheet_path, listing, read_photos

    try:
        if not args.no_sheet:
            from ground.photo_sheet import require_matplotlib, write_sheet

            require_matplotlib()  # before any output: the listing then the error is confusing
        fp = read_photos(args.file)
        if args.json:
            print(json.dumps([p.as_dict() for p in fp.photos]))
        else:
            print(listing(fp))
        if fp.photos and not args.no_sheet:
            out = write_sheet(fp, args.out or default_sheet_path(fp))
            print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
        elif args.json and not fp.photos:
            print(f"{args.file}: no photos in this log", file=sys.stderr)
    except LogToolError as exc:
        raise ConfigError(str(exc)) from None
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    """Exit 0 with a confident estimate, 1 when the log cannot tell (too little motion)."""
    from ground.calibrate_camera_imu import calibrate, plot
    from ground.logdata import LogToolError

    try:
        cal = calibrate(args.file, search_ms=args.search_ms)
        print(json.dumps(cal.as_dict()) if args.json else cal.text())
        if args.plot is not None:
            print(f"wrote {plot(cal, args.plot)}", file=sys.stderr if args.json else sys.stdout)
    except LogToolError as exc:
        raise ConfigError(str(exc)) from None
    return 0 if cal.confident else 1


def _fly(args: argparse.Namespace) -> int:
    from app.boot import prepare
    from app.session import fly

    setup = prepare(args.config, args.scenario, args.seed, contingency=not args.no_contingency)
    setup.arm = args.arm
    tty = sys.stderr.isatty() and not args.quiet
    last = [0.0]

    def status(line: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.1:
            last[0] = now
            print("\r" + line, end="", file=sys.stderr, flush=True)

    def hooks(fsw: Any) -> None:
        if not args.quiet:
            def show(ev: Any) -> None:
                pre = "\r\033[K" if tty else ""
                print(f"{pre}[{fsw.mission_time(ev.t_ns):7.2f}s] {ev.text}", file=sys.stderr)
            fsw.on_event = show

    log_path = args.log
    if log_path is None and not args.no_log and setup.cfg.log.enabled:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log_path = Path(setup.cfg.log.dir) / f"{stamp}_{setup.scenario.name}_s{setup.seed}.ulg"
    result = fly(setup, on_status=status if tty else None, hooks=hooks, log_path=log_path)
    if tty:
        print("\r\033[K", end="", file=sys.stderr)
    s = result.summary
    if args.summary_json:
        args.summary_json.parent.mkdir(parents=True, exist_ok=True)
        args.summary_json.write_text(json.dumps(s.as_dict()) + "\n")
    print(human_summary(s))
    if log_path is not None:
        print(f"  flight log: {log_path}")
    return 0 if (s.on_ground and not s.crashed) else 1


def human_summary(s: FlightSummary) -> str:
    lines = [f"scenario {s.scenario} (seed {s.seed}, backend {s.backend}): "
             f"{s.duration_s:.1f} s simulated in {s.wall_s:.1f} s"]
    if s.land_now and s.land_now_t_s is not None:
        kind = "timestamp check" if s.timestamp_related else "check"
        ff = s.first_fault_t_s
        lat = f", {s.land_now_t_s - ff:.3f} s after the first fault" if ff is not None else ""
        lines.append(f"  LAND_NOW at {s.land_now_t_s:.3f} s by {kind} "
                     f"'{s.land_now_reason}'{lat}")
    else:
        lines.append("  no LAND_NOW")
    verdict = "CRASHED" if s.crashed else ("landed safely" if s.landed else
                                           "NOT on the ground")
    lines.append(f"  {verdict}: touchdown {s.touchdown_speed_mps:.2f} m/s tilted "
                 f"{s.touchdown_tilt_deg:.1f} deg, {s.final_position_error_m:.2f} m from the "
                 f"{'LAND_NOW point' if s.land_now else 'planned landing point'}")
    after = s.max_tilt_after_fault_deg
    lines.append(f"  max tilt in flight {s.max_tilt_deg:.1f} deg"
                 + (f", {after:.1f} deg after the first fault" if after is not None else ""))
    verr = s.max_velocity_error_after_fault_mps
    if verr is not None:
        lines.append(f"  velocity estimate off the truth by up to {verr:.2f} m/s after the fault")
    lines.append(f"  executive: {s.cycles} cycles, {s.overruns} overruns, "
                 f"{s.slips} slips")
    off = s.camera_imu_offset
    if off:
        if off.get("confident"):
            lines.append(f"  camera-IMU time offset {off['estimate_ms']:+.1f} +- "
                         f"{off['sigma_ms']:.1f} ms beyond the configured "
                         f"{off['configured_ms']:g} ms (confident from "
                         f"{off['confident_at_s']:.1f} s; correction applied "
                         f"{off['correction_ms']:+.1f} ms)")
        else:
            lines.append("  camera-IMU time offset: no confident estimate (too little rotation "
                         "change seen to tell)")
    timing = s.timing
    if (timing and s.backend != "sim") or (timing and s.realtime):
        w, c = timing["wake_latency_us"], timing["cycle_time_us"]
        lines.append(f"  wake-up latency p50 {w['p50_us']:.0f} p99 {w['p99_us']:.0f} "
                     f"p99.9 {w['p99_9_us']:.0f} max {w['max_us']:.0f} us; cycle time p50 "
                     f"{c['p50_us']:.0f} p99 {c['p99_us']:.0f} max {c['max_us']:.0f} us")
    if s.stall_guard:
        lines.append(f"  STALL GUARD cut the outputs: {s.stall_guard}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
