"""Where a campaign's runs fly: a local process pool (default) or a Dask distributed cluster.

Both take the same picklable ``RunSpec`` list and yield each run's row as it finishes, in any
order; the row depends on the spec alone, so the engine never changes a result. The local pool
uses ``spawn`` (a fresh interpreter per worker, as a Dask worker is: no state inherited from the
parent) and workers that ignore SIGINT: Ctrl-C is the parent's, which stops recording and
terminates the pool. Dask (``pip install 'dask[distributed]'``) is imported only when asked
for; its workers must be able to import this project (the same checkout or an installed
package).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from typing import Any, Protocol

from app.campaign.runs import RunSpec, fly_run
from hal.tomlschema import ConfigError

log = logging.getLogger(__name__)


class Engine(Protocol):
    def results(self, specs: list[RunSpec]) -> Iterator[dict[str, Any]]:
        """Each spec's row as it finishes; stop early and clean up if the caller stops."""
        ...

    @property
    def name(self) -> str: ...


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalPool:
    """A ``multiprocessing`` pool of ``workers`` processes (default: every core)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    @property
    def name(self) -> str:
        return f"local pool of {self.workers} processes"

    def results(self, specs: list[RunSpec]) -> Iterator[dict[str, Any]]:
        if not specs:
            return
        ctx = multiprocessing.get_context("spawn")
        pool = ctx.Pool(min(self.workers, len(specs)), initializer=_ignore_sigint)
        try:
            yield from pool.imap_unordered(fly_run, specs, chunksize=1)
            pool.close()
        finally:
            pool.terminate()  # an interrupt: unfinished flights are dropped, never recorded
            pool.join()


class DaskCluster:
    """An existing Dask distributed scheduler; ``address`` "" takes Dask's own configuration
    (``DASK_SCHEDULER_ADDRESS`` or ``scheduler-address`` in its config files)."""

    def __init__(self, address: str) -> None:
        self.address = address

    @property
    def name(self) -> str:
        return f"Dask cluster at {self.address or '(Dask configuration)'}"

    def results(self, specs: list[RunSpec]) -> Iterator[dict[str, Any]]:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise ConfigError("--dask: Dask is not installed (pip install "
                              "'dask[distributed]>=2024.1', the 'cluster' extra)") from None
        if not specs:
            return
        try:
            client = Client(self.address or None, timeout="10s")
        except OSError as exc:
            raise ConfigError(f"--dask: cannot reach the scheduler at {self.address!r}: "
                              f"{exc}") from None
        futures: list[Any] = []
        try:
            futures = client.map(fly_run, specs, pure=False)
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
            client.close()
