"""A real Dask cluster on 127.0.0.1 (a ``dask scheduler`` and two ``dask worker`` processes,
started here as subprocesses) flies a small campaign whose results equal the local pool's,
run by run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.campaign.campaign import CampaignPlan, run_campaign
from app.campaign.engine import DaskCluster, LocalPool
from app.campaign.local_cluster import dask_command, local_cluster
from ground.campaign.store import read_runs

distributed = pytest.importorskip(
    "distributed", reason="Dask is not installed (pip install 'dask[distributed]>=2024.1', "
    "the 'cluster' extra)")

ROOT = Path(__file__).resolve().parents[2]
HOVER = ROOT / "config" / "scenarios" / "nominal_hover.toml"
DISP = ROOT / "config" / "dispersions" / "vehicle_sensors.toml"
SIM = ROOT / "config" / "sim.toml"
HOST_FIELDS = {"run_id", "wall_s", "timing"}


@pytest.fixture
def cluster() -> Iterator[str]:
    if dask_command() is None:
        pytest.skip("the 'dask' command is not installed")
    with local_cluster(2, ROOT) as address:
        yield address


def test_a_dask_cluster_gives_the_local_pools_results(cluster: str, tmp_path: Path) -> None:
    plan = CampaignPlan([HOVER], [DISP], SIM, 4)
    on_dask = run_campaign(plan, tmp_path / "dask.sqlite", DaskCluster(cluster))
    local = run_campaign(plan, tmp_path / "local.sqlite", LocalPool(2))
    assert (on_dask.flown, on_dask.errors, local.flown, local.errors) == (4, 0, 4, 0)

    def by_run(db: Path) -> dict[int, dict[str, object]]:
        return {r["run_index"]: {k: v for k, v in r.items() if k not in HOST_FIELDS}
                for r in read_runs(db)}

    a, b = by_run(tmp_path / "dask.sqlite"), by_run(tmp_path / "local.sqlite")
    assert sorted(a) == [0, 1, 2, 3]
    for index in a:
        assert a[index] == b[index], index
