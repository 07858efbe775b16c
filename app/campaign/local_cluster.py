"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: a ``dask scheduler`` and N
``dask worker`` processes (one process, one thread each), started as subprocesses and stopped
on exit. Needs the 'cluster' extra (Dask is imported only here and only when started)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dask_command() -> list[str] | None:
    """The ``dask`` command beside this interpreter or on PATH; None if not installed."""
    exe = Path(sys.executable).parent / "dask"
    found = str(exe) if exe.is_file() else shutil.which("dask")
    return [found] if found else None


@contextmanager
def local_cluster(workers: int, cwd: Path) -> Iterator[str]:
    """Start the cluster, wait for every worker; yield the scheduler's address."""
    import distributed

    dask = dask_command()
    if dask is None:
        raise RuntimeError("the 'dask' command is not installed (pip install -e '.[cluster]')")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = subprocess.DEVNULL
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], cwd=cwd, stdout=quiet, stderr=quiet)]
    try:
        for _ in range(workers):
            procs.append(subprocess.Popen(
                [*dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                 "--nthreads", "1", "--no-dashboard", "--no-nanny"],
                cwd=cwd, stdout=quiet, stderr=quiet))
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)
            if len(client.scheduler_info()["workers"]) != workers:
                raise RuntimeError(f"expected {workers} Dask workers")
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
