"""``flightsw campaign``: its arguments and actions (``app.cli`` adds the parser and
dispatches here).

```
flightsw campaign --scenarios A.toml [B.toml ...] [--dispersion D.toml ...] --runs N --db out.sqlite
                  [--config sim.toml] [--workers K | --dask [tcp://host:8786]] [--no-report]
flightsw campaign fly SCENARIO [--dispersion D.toml] --run-index I [--config sim.toml]
                  [--log PATH | --no-log] [--summary-json PATH]     # one run, exactly
flightsw campaign report DB
flightsw campaign compare A.sqlite B.sqlite
```
Exit status: 0 done, 1 a run crashed the software under test (status ``error``), 2 usage or
configuration error, 130 interrupted (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.tomlschema import ConfigError

if TYPE_CHECKING:
    from app.summary import FlightSummary

Describe = Callable[["FlightSummary"], str]

ACTIONS = ("fly", "report", "compare")
MAX_RUNS = 10_000_000


def _count(text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"must be {lo} .. {hi} (got {value})")
    return value


def add_parser(sub: Any) -> None:
    cp = sub.add_parser("campaign", help="Monte Carlo campaign: scenarios x dispersions x runs "
                        "on a local pool or a Dask cluster, results in SQLite; also "
                        "'campaign fly|report|compare'")
    cp.add_argument("action", nargs="*", metavar="ACTION ARGS",
                    help="nothing (run a campaign), 'fly SCENARIO', 'report DB' or "
                    "'compare A.sqlite B.sqlite'")
    cp.add_argument("--scenarios", type=Path, nargs="+", help="scenario TOML files")
    cp.add_argument("--dispersion", type=Path, nargs="+", default=[],
                    help="dispersion TOML files (config/dispersions/); none: seeds only")
    cp.add_argument("--runs", type=lambda t: _count(t, 1, MAX_RUNS),
                    help="runs per scenario and dispersion file")
    cp.add_argument("--db", type=Path, help="results database (SQLite); re-run to resume")
    cp.add_argument("--config", type=Path, help="flight configuration TOML (default sim)")
    cp.add_argument("--workers", type=lambda t: _count(t, 1, 1024),
                    help="local pool size (default: every core)")
    cp.add_argument("--dask", nargs="?", const="", metavar="ADDRESS",
                    help="run on an existing Dask cluster (tcp://host:8786; no address: "
                    "Dask's configured scheduler-address)")
    cp.add_argument("--no-report", action="store_true", help="do not write the report")
    cp.add_argument("--run-index", type=lambda t: _count(t, 0, MAX_RUNS),
                    help="fly: which run")
    cp.add_argument("--log", type=Path, help="fly: flight log path (ULog)")
    cp.add_argument("--no-log", action="store_true", help="fly: write no flight log")
    cp.add_argument("--summary-json", type=Path, help="fly: write the summary as JSON")


def campaign_command(args: argparse.Namespace, describe: Describe) -> int:
    """Run the campaign action; ``describe`` is the command line's human summary of a flight
    (passed in: ``app.cli`` imports this module)."""
    action = args.action[0] if args.action else ""
    rest = args.action[1:]
    if action and action not in ACTIONS:
        raise ConfigError(f"campaign: unknown action {action!r} (known: {', '.join(ACTIONS)})")
    if action == "report":
        return _report(_args(rest, 1, "report DB"))
    if action == "compare":
        return _compare(_args(rest, 2, "compare A.sqlite B.sqlite"))
    if action == "fly":
        return _fly_one(args, _args(rest, 1, "fly SCENARIO")[0], describe)
    return _run(args)


def _args(rest: list[str], count: int, usage: str) -> list[Path]:
    if len(rest) != count:
        raise ConfigError(f"campaign: usage: flightsw campaign {usage}")
    return [Path(r) for r in rest]


def _report(paths: list[Path]) -> int:
    from ground.campaign.report import write_report

    print(f"wrote {write_report(paths[0])}")
    return 0


def _compare(paths: list[Path]) -> int:
    from ground.campaign.compare import compare

    print(compare(paths[0], paths[1]))
    return 0


def _run(args: argparse.Namespace) -> int:
    from app.campaign.campaign import CampaignPlan, run_campaign
    from app.campaign.engine import DaskCluster, Engine, LocalPool
    from app.campaign.runs import default_config

    missing = [n for n in ("scenarios", "runs", "db") if getattr(args, n) is None]
    if missing:
        raise ConfigError(f"campaign: missing {', '.join('--' + m for m in missing)}")
    if args.dask is not None and args.workers is not None:
        raise ConfigError("campaign: --workers sizes the local pool; a Dask cluster has its "
                          "own workers (give one or the other)")
    config = args.config if args.config is not None else _path_or_none(default_config())
    plan = CampaignPlan(list(args.scenarios), list(args.dispersion), config, args.runs)
    engine: Engine = DaskCluster(args.dask) if args.dask is not None else LocalPool(args.workers)
    t0 = time.monotonic()
    outcome = run_campaign(plan, args.db, engine, progress_to=sys.stderr)
    wall = time.monotonic() - t0
    print(f"campaign {args.db}: {outcome.total} runs, {outcome.skipped} recorded before, "
          f"{outcome.flown} flown in {wall:.1f} s on {engine.name}")
    if outcome.interrupted:
        print("interrupted: every finished run is recorded; run the same command to resume",
              file=sys.stderr)
        return 130
    if outcome.errors:
        print(f"{outcome.errors} runs did not fly; first: {outcome.first_error}",
              file=sys.stderr)
    if not args.no_report:
        from ground.campaign.report import write_report

        print(f"report: {write_report(args.db)}")
    if outcome.software_errors:
        return 1
    return 2 if outcome.errors else 0


def _path_or_none(text: str | None) -> Path | None:
    return Path(text) if text else None


def _fly_one(args: argparse.Namespace, scenario: Path, describe: Describe) -> int:
    """Fly one campaign run exactly as the campaign did, with a log and the human summary."""
    from app.campaign.runs import RunSpec, default_config, prepare_run
    from app.session import fly

    if args.run_index is None:
        raise ConfigError("campaign fly: missing --run-index")
    if len(args.dispersion) > 1:
        raise ConfigError("campaign fly: one --dispersion file at most")
    config = str(args.config.resolve()) if args.config else default_config()
    disp = str(args.dispersion[0].resolve()) if args.dispersion else None
    spec = RunSpec(str(scenario.resolve()), disp, config, args.run_index)
    prepared = prepare_run(spec)
    setup = prepared.setup
    print(f"run {spec.run_index}: seed {setup.seed}, drawn {json.dumps(prepared.draws)}")
    log_path = args.log
    if log_path is None and not args.no_log and setup.cfg.log.enabled:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log_path = (Path(setup.cfg.log.dir) /
                    f"{stamp}_{setup.scenario.name}_run{spec.run_index}.ulg")
    summary = fly(setup, log_path=log_path).summary
    if args.summary_json:
        args.summary_json.parent.mkdir(parents=True, exist_ok=True)
        args.summary_json.write_text(json.dumps(summary.as_dict()) + "\n")
    print(describe(summary))
    if log_path is not None:
        print(f"  flight log: {log_path}")
    return 0 if (summary.on_ground and not summary.crashed) else 1
