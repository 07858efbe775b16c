"""A campaign: scenarios x dispersion files x run indices, flown by an engine, recorded in
SQLite, resumable.

Resuming is a property of the database, not of a saved state: a run's identity is (scenario,
dispersion, config, run index), every finished run is committed as it arrives, and a campaign
flies only the identities it does not hold yet. Re-running the same command after an
interrupt (or with a larger ``--runs``) therefore flies exactly the missing runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app.campaign.dispersion import load_dispersion
from app.campaign.engine import Engine
from app.campaign.progress import Progress
from app.campaign.runs import RunSpec, prepare_run
from firmware.config import load_scenario
from ground.campaign.store import CampaignStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CampaignPlan:
    scenarios: list[Path]
    dispersions: list[Path]  # empty: seeds only
    config: Path | None
    runs: int

    def specs(self) -> list[RunSpec]:
        cfg = str(self.config.resolve()) if self.config else None
        disps: list[str | None] = [str(d.resolve()) for d in self.dispersions] or [None]
        return [RunSpec(str(s.resolve()), d, cfg, i)
                for s in self.scenarios for d in disps for i in range(self.runs)]

    def inputs(self) -> list[str]:
        """Every file a run reads (plans included): resume refuses if one changed."""
        files = [str(p.resolve()) for p in [*self.scenarios, *self.dispersions]]
        files += [str(load_scenario(s).plan_path.resolve()) for s in self.scenarios]
        if self.config is not None:
            files.append(str(self.config.resolve()))
        return sorted(set(files))

    def check(self) -> None:
        """Validate every input before anything flies: each dispersion file, and run 0 of
        every (scenario, dispersion) pair drawn and loaded (a wrong key or type fails here,
        once, rather than in every run)."""
        loaded = {str(d.resolve()): load_dispersion(d) for d in self.dispersions}
        seen: set[tuple[str, str | None]] = set()
        for spec in self.specs():
            if (spec.scenario, spec.dispersion) in seen:
                continue
            seen.add((spec.scenario, spec.dispersion))
            prepare_run(spec, loaded.get(spec.dispersion or ""))


@dataclass
class CampaignOutcome:
    total: int
    skipped: int  # recorded by an earlier invocation
    flown: int
    errors: int  # runs that did not fly (config_error or error)
    first_error: str | None
    interrupted: bool
    software_errors: int = 0  # status "error": the software under test raised


def run_campaign(plan: CampaignPlan, db: Path, engine: Engine,
                 progress_to: TextIO | None = None) -> CampaignOutcome:
    """Fly the plan's missing runs on ``engine`` and record each in ``db``; a progress line
    goes to ``progress_to`` if given."""
    plan.check()
    store = CampaignStore(db)
    progress: Progress | None = None
    try:
        store.check_inputs(plan.inputs())
        done = store.done()
        specs = plan.specs()
        todo = [s for s in specs
                if (s.scenario, s.dispersion or "", s.config or "", s.run_index) not in done]
        outcome = CampaignOutcome(len(specs), len(specs) - len(todo), 0, 0, None, False)
        if progress_to is not None:
            progress = Progress(len(specs), outcome.skipped, progress_to)
        log.info("%d runs, %d recorded before, %d to fly on %s", len(specs),
                 outcome.skipped, len(todo), engine.name)
        try:
            for row in engine.results(todo):
                store.record(row)
                outcome.flown += 1
                if row.get("status") != "ok":
                    outcome.errors += 1
                    outcome.first_error = outcome.first_error or str(row.get("error"))
                    outcome.software_errors += row.get("status") == "error"
                if progress is not None:
                    progress.update(row)
        except KeyboardInterrupt:
            outcome.interrupted = True
        return outcome
    finally:
        store.close()
        if progress is not None:
            progress.close()
