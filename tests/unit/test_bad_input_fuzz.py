"""Whatever bytes a config, scenario or plan file holds, loading it either succeeds or raises
one ``ConfigError`` line naming the file; never another exception. And nothing valid is lost:
every shipped file still loads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.boot import prepare
from firmware.config import load_plan
from hal.tomlschema import ConfigError
from tests.conftest import CONFIG

NOMINAL = CONFIG / "scenarios" / "nominal_hover.toml"
SHIPPED = sorted(p.relative_to(CONFIG).as_posix() for p in
                 [*CONFIG.glob("*.toml"), *CONFIG.glob("scenarios/*.toml"),
                  *CONFIG.glob("plans/*.toml")])
HUGE_INT = "1" + "0" * 400
ASSIGNMENT = re.compile(rb"^(\s*)([A-Za-z0-9_\-\"'.]+)(\s*=\s*)(.*)$")
KEYS = sorted({m.group(2).decode() for name in SHIPPED
               for line in (CONFIG / name).read_bytes().split(b"\n")
               if (m := ASSIGNMENT.match(line))})
# TOML spellings of the values that break naive loaders
NASTY = ["nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e300", "-1e300", "1e400", HUGE_INT,
         "-" + HUGE_INT, "0x" + "f" * 40, "9223372036854775808", "-9223372036854775809",
         "0", "-1", "-0.0", "1e-300", "5e-324", "true", '"x"', '""', "[]", '[1, "a", 2.5]',
         "[[1]]", "[nan, inf]", "{}", "{a = 1}", "1979-05-27", "07:32:00", '"\\u0000"',
         '"a\\nb"', '"plans"', '"../sim.toml"']


def role(name: str) -> str:
    return name.split("/")[0] if "/" in name else "config"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config tree with the shipped plans, so a mutated scenario finds its plan."""
    root = tmp_path_factory.mktemp("bad_input")
    shutil.copytree(CONFIG / "plans", root / "plans")
    (root / "scenarios").mkdir()
    return root


def load_as(kind: str, data: bytes, root: Path) -> None:
    """Load ``data`` as a file of that kind, as ``flightsw fly`` would before arming.

    Returns on a valid load; a ``ConfigError`` must be one line naming a file of ``root``."""
    path = root / {"config": "fuzz.toml", "scenarios": "scenarios/fuzz.toml",
                   "plans": "plans/fuzz.toml"}[kind]
    path.write_bytes(data)
    try:
        if kind == "config":
            prepare(path, NOMINAL, 1)
        elif kind == "scenarios":
            prepare(None, path, 1)
        else:
            load_plan(path)
    except ConfigError as exc:
        line = str(exc)
        assert "\n" not in line and "\r" not in line, line
        # a scenario may name another file of the tree as its plan; errors name that file
        assert line.startswith(str(path) if kind != "scenarios" else str(root)), line
        assert len(line) < 1000, line


def test_every_shipped_file_still_loads():
    for name in SHIPPED:
        if role(name) == "config":
            setup = prepare(CONFIG / name, NOMINAL, 1)
            assert setup.cfg.source == str(CONFIG / name)
        elif role(name) == "scenarios":
            setup = prepare(None, CONFIG / name, 1)
            assert setup.scenario.path == CONFIG / name
        else:
            assert load_plan(CONFIG / name).takeoff_alt_m > 0


KINDS = st.sampled_from(["config", "scenarios", "plans"])
AT_S_1E300 = b'plan = "plans/hover.toml"\n[[faults]]\nkind = "imu.stall"\nat_s = 1e300\n'


@pytest.mark.property
@given(kind=KINDS, data=st.binary(max_size=512))
@example(kind="config", data=b"\xff\xfe[loop]\n")
@example(kind="scenarios", data="# caf\xe9\n".encode("latin-1") + AT_S_1E300)
@example(kind="scenarios", data=AT_S_1E300)
@example(kind="config", data=b"[loop]\nrate_hz = nan\n")
@example(kind="config", data=b"[loop]\nrate_hz = inf\n")
@example(kind="plans", data=b'name = "x"\ntakeoff_alt_m = -inf\n')
def test_random_bytes_load_or_give_one_config_error(layout, kind, data):
    load_as(kind, data, layout)


PAYLOADS = st.one_of(
    st.sampled_from(NASTY),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
    st.text(max_size=16),
)
OPS = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), PAYLOADS),
    st.tuples(st.just("bytes"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("drop_line"), st.floats(0, 1), st.none()),
    st.tuples(st.just("dup_line"), st.floats(0, 1), st.none()),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.none()),
    st.tuples(st.just("rename"), st.sampled_from(KEYS), st.text(min_size=1, max_size=12)),
)


def mutate(data: bytes, ops: list[tuple[str, object, object]]) -> bytes:
    for op, where, what in ops:
        lines = data.split(b"\n")
        if op in ("set", "rename"):
            for i, line in enumerate(lines):
                m = ASSIGNMENT.match(line)
                if m and m.group(2).decode() == where:
                    assert isinstance(what, str)
                    new = what.encode()
                    lines[i] = (m.group(1) + (m.group(2) if op == "set" else new) + m.group(3)
                                + (new if op == "set" else m.group(4)))
                    break
            data = b"\n".join(lines)
            continue
        assert isinstance(where, float)
        if op == "bytes":
            assert isinstance(what, bytes)
            at = round(where * len(data))
            data = data[:at] + what + data[at:]
        elif op == "truncate":
            data = data[:round(where * len(data))]
        else:
            i = min(int(where * len(lines)), len(lines) - 1)
            lines[i:i + 1] = [] if op == "drop_line" else [lines[i], lines[i]]
            data = b"\n".join(lines)
    return data


@pytest.mark.property
@given(name=st.sampled_from(SHIPPED), ops=st.lists(OPS, min_size=1, max_size=4))
@example(name="scenarios/flight6.toml", ops=[("set", "at_s", "1e300")])
@example(name="scenarios/flight6.toml", ops=[("set", "at_s", "nan")])
@example(name="scenarios/flight6.toml", ops=[("set", "at_s", "-inf")])
@example(name="scenarios/flight6.toml", ops=[("set", "shift_s", HUGE_INT)])
@example(name="sim.toml", ops=[("set", "rate_hz", "inf")])
@example(name="sim.toml", ops=[("set", "step_us", "9223372036854775808")])
@example(name="hil.toml", ops=[("set", "rate_hz", "nan")])
@example(name="rig.toml", ops=[("set", "rate_hz", "-inf")])
@example(name="plans/hover.toml", ops=[("bytes", 0.5, b"\xff")])
@example(name="plans/box.toml", ops=[("set", "north_m", "1e300")])
def test_mutated_shipped_files_load_or_give_one_config_error(layout, name, ops):
    load_as(role(name), mutate((CONFIG / name).read_bytes(), ops), layout)


def test_mutations_change_what_they_say():
    """The mutator is part of the test: a ``set`` really lands on the named key."""
    text = (CONFIG / "scenarios" / "flight6.toml").read_bytes()
    assert b"at_s = 1e300" in mutate(text, [("set", "at_s", "1e300")])
    assert mutate(text, [("truncate", 0.0, None)]) == b""
    assert len(mutate(text, [("dup_line", 0.0, None)])) > len(text)


FLIGHTSW = Path(sys.executable).with_name("flightsw")


@pytest.mark.skipif(not FLIGHTSW.exists(), reason="flightsw is not installed in this venv")
@pytest.mark.parametrize("option,data,needle", [
    ("--config", b"\xff\xfe\x00garbage", "not UTF-8 text"),
    ("--scenario", AT_S_1E300, "faults[0].at_s: must be <="),
    ("--config", b"[loop]\nrate_hz = nan\n", "loop.rate_hz: must be a finite number"),
], ids=["not-utf8-config", "at_s-1e300", "nan"])
def test_the_installed_command_exits_2_with_one_line(tmp_path, option, data, needle):
    (tmp_path / "plans").mkdir()
    shutil.copy(CONFIG / "plans" / "hover.toml", tmp_path / "plans" / "hover.toml")
    (tmp_path / "scenarios").mkdir()
    bad = tmp_path / "scenarios" / "bad.toml"
    bad.write_bytes(data)
    proc = subprocess.run([str(FLIGHTSW), "fly", "--quiet", "--no-log", option, str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert str(bad) in proc.stderr and needle in proc.stderr
    assert proc.stdout == ""
