"""apply_rt_settings degrades to warnings; RtSettings from TOML; GcPolicy."""

from __future__ import annotations

import errno
import gc
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hal import realtime
from hal.realtime import GcPolicy, RtSettings, apply_rt_settings
from hal.tomlschema import ConfigError, load

ROOT = Path(__file__).resolve().parents[2]


def _deny(*args: Any, **kwargs: Any) -> None:
    raise PermissionError(errno.EPERM, "Operation not permitted")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record instead of applying: the test process keeps its own scheduling."""
    seen: dict[str, list[Any]] = {"sched": [], "affinity": [], "mlock": [], "slack": []}
    monkeypatch.setattr(os, "sched_setscheduler", lambda *a: seen["sched"].append(a))
    monkeypatch.setattr(os, "sched_setaffinity", lambda *a: seen["affinity"].append(a))

    def mlock(flags: int) -> int:
        seen["mlock"].append(flags)
        return 0

    def slack(ns: int) -> int:
        seen["slack"].append(ns)
        return 0

    monkeypatch.setattr(realtime, "_call_mlockall", mlock)
    monkeypatch.setattr(realtime, "_call_set_timerslack", slack)
    return seen


def test_all_off_touches_nothing(calls: dict[str, list[Any]]) -> None:
    assert apply_rt_settings(RtSettings()) == []
    assert calls == {"sched": [], "affinity": [], "mlock": [], "slack": []}


def test_all_permitted_applies_each_step(calls: dict[str, list[Any]]) -> None:
    s = RtSettings(sched_fifo_priority=80, mlockall=True, cpu_affinity=[1], timer_slack_ns=1)
    assert apply_rt_settings(s) == []
    assert calls["slack"] == [1]
    (pid, policy, param), = calls["sched"]
    assert (pid, policy, param.sched_priority) == (0, os.SCHED_FIFO, 80)
    assert calls["affinity"] == [(0, [1])]
    assert calls["mlock"] == [realtime.MCL_CURRENT | realtime.MCL_FUTURE]


def test_sched_fifo_not_permitted_is_one_warning(
    calls: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_setscheduler", _deny)
    warnings = apply_rt_settings(RtSettings(sched_fifo_priority=50, mlockall=True))
    assert len(warnings) == 1
    assert "SCHED_FIFO priority 50 not applied" in warnings[0]
    assert "CAP_SYS_NICE" in warnings[0]
    assert "\n" not in warnings[0]
    assert calls["mlock"]  # the other steps still ran


@pytest.mark.parametrize("err", [errno.ENOMEM, errno.EPERM])
def test_mlockall_refused_is_one_warning(
    calls: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    monkeypatch.setattr(realtime, "_call_mlockall", lambda flags: err)
    warnings = apply_rt_settings(RtSettings(mlockall=True, sched_fifo_priority=10))
    assert len(warnings) == 1
    assert warnings[0].startswith("mlockall not applied")
    assert "RLIMIT_MEMLOCK" in warnings[0]
    assert calls["sched"]


def test_bad_cpu_is_one_warning_from_the_real_call() -> None:
    # A CPU that does not exist: the kernel refuses (EINVAL) and nothing changes.
    before = os.sched_getaffinity(0)
    warnings = apply_rt_settings(RtSettings(cpu_affinity=[1000]))
    assert len(warnings) == 1
    assert "cpu_affinity [1000] not applied" in warnings[0]
    assert os.sched_getaffinity(0) == before


_UNPRIVILEGED = textwrap.dedent(
    """
    import json, os, resource, sys
    sys.path.insert(0, sys.argv[1])
    from hal import realtime
    realtime._load_libc()  # everything loaded first: the interpreter may live in /root
    resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 65536))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    w = realtime.apply_rt_settings(realtime.RtSettings(sched_fifo_priority=50, mlockall=True))
    print(json.dumps({"warnings": w, "policy": os.sched_getscheduler(0)}))
    """
)


def test_really_unprivileged_process_degrades_with_warnings() -> None:
    """The real kernel refusals, in a child that drops root and its rlimits."""
    out = subprocess.run(
        [sys.executable, "-c", _UNPRIVILEGED, str(ROOT)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    warnings = result["warnings"]
    assert len(warnings) == 2, warnings
    assert any(w.startswith("mlockall not applied") for w in warnings)
    assert any(w.startswith("SCHED_FIFO priority 50 not applied") for w in warnings)
    assert result["policy"] == os.SCHED_OTHER


def test_settings_from_toml() -> None:
    s = load(
        RtSettings,
        {"sched_fifo_priority": 80, "mlockall": True, "cpu_affinity": [3],
         "gc_policy": "manual", "spin_us": 50},
        "rig.toml", "realtime",
    )
    assert s == RtSettings(80, True, [3], "manual", 50)
    assert s.spin_ns == 50_000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sched_fifo_priority": 100}, "realtime.sched_fifo_priority: must be <= 99"),
        ({"gc_policy": "never"}, "realtime.gc_policy: must be one of"),
        ({"cpu_affinity": [-1]}, "realtime.cpu_affinity: must be >= 0"),
        ({"cpu_affinity": [2, 2]}, "cpu_affinity: duplicate CPUs"),
        ({"spin": 3}, "realtime.spin: unknown key"),
        ({"timer_slack_ns": 0}, "timer_slack_ns: 0 means"),
    ],
)
def test_settings_errors_are_one_line(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(RtSettings, data, "rig.toml", "realtime")
    assert message in str(exc.value)
    assert str(exc.value).startswith("rig.toml: ")


@pytest.fixture
def gc_restored() -> Iterator[None]:
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
        gc.enable()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _make_garbage(n: int) -> None:
    for _ in range(n):
        _Cycle()


@pytest.mark.usefixtures("gc_restored")
def test_gc_freeze_policy() -> None:
    policy = GcPolicy("freeze")
    policy.after_startup()
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()  # gen 0/1 stay automatic
    assert gc.get_threshold()[2] == GcPolicy._NEVER
    assert policy.slack(10**9) == -1  # gen 2 not due yet


@pytest.mark.usefixtures("gc_restored")
def test_gc_manual_policy_collects_only_in_slack() -> None:
    policy = GcPolicy("manual", gen0_threshold=100)
    policy.after_startup()
    assert not gc.isenabled()
    _make_garbage(500)
    assert gc.get_count()[0] >= 500  # nothing collected them automatically
    assert policy.slack(0) == -1  # no slack, no collection
    assert gc.get_count()[0] >= 500
    assert policy.slack(50_000_000) in (0, 1, 2)
    assert gc.get_count()[0] < 100
    assert sum(policy.collections) == 1
    assert policy.slack(50_000_000) == -1  # nothing due any more


@pytest.mark.usefixtures("gc_restored")
def test_gc_manual_policy_falls_back_to_a_younger_generation() -> None:
    policy = GcPolicy("manual", gen0_threshold=10)
    policy.after_startup()
    policy.cost_ns = [1_000, 10**9, 10**9]
    for _ in range(gc.get_threshold()[1] + 1):
        _make_garbage(20)
        assert policy.slack(1_000_000) == 0  # gen 1 due but too costly for this budget


def test_gc_default_policy_does_nothing() -> None:
    policy = GcPolicy("default")
    frozen = gc.get_freeze_count()
    policy.after_startup()
    assert gc.get_freeze_count() == frozen
    assert policy.slack(10**9) == -1


def test_cpu_dma_latency_request_is_held(
    calls: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "cpu_dma_latency"
    fake.write_bytes(b"")
    monkeypatch.setattr(realtime, "CPU_DMA_LATENCY", str(fake))
    try:
        assert apply_rt_settings(RtSettings(cpu_dma_latency_us=0)) == []
        assert fake.read_bytes() == b"\0\0\0\0"
        assert len(realtime._dma_latency_fd) == 1
    finally:
        realtime.release_cpu_dma_latency()
    assert realtime._dma_latency_fd == []


def test_cpu_dma_latency_unavailable_is_one_warning(
    calls: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(realtime, "CPU_DMA_LATENCY", str(tmp_path / "missing"))
    warnings = apply_rt_settings(RtSettings(cpu_dma_latency_us=0))
    assert len(warnings) == 1
    assert warnings[0].startswith("cpu_dma_latency 0 us not applied")
    assert realtime._dma_latency_fd == []


def test_timer_slack_really_applies_to_the_calling_thread() -> None:
    # Real prctl in a throwaway thread (slack is per thread), read back with PR_GET_TIMERSLACK.
    import threading

    libc = realtime._load_libc()
    assert libc is not None
    seen: list[str] = []

    def body() -> None:
        before = libc.prctl(30, 0, 0, 0, 0)
        warnings = apply_rt_settings(RtSettings(timer_slack_ns=1234))
        seen.append(f"{warnings}|{libc.prctl(30, 0, 0, 0, 0)}|{before != 1234}")

    th = threading.Thread(target=body)
    th.start()
    th.join()
    assert seen == ["[]|1234|True"]
