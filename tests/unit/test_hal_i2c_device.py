"""hal.i2c_device: the I2C plumbing every chip driver shares, against a fake register file."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from hal.i2c_device import (
    SMBUS_BLOCK_MAX,
    CheckedRegister,
    DeviceMissingError,
    I2cCounters,
    I2cDevice,
    describe,
)
from hal.types import DriverCounters


class FakeBus:
    """One chip's 256 registers; every call logged by kind."""

    def __init__(self) -> None:
        self.regs = bytearray(range(256))
        self.calls: list[str] = []
        self.fail: OSError | None = None

    def _enter(self, kind: str) -> None:
        self.calls.append(kind)
        if self.fail is not None:
            raise self.fail

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        self._enter("read_byte")
        return self.regs[register]

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        self._enter("write_byte")
        self.regs[register] = value

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        self._enter("read_block")
        return list(self.regs[register : register + length])

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        self._enter("write_block")
        self.regs[register : register + len(data)] = bytes(data)

    def i2c_rdwr(self, *msgs: Any) -> None:
        self._enter("rdwr")
        wr = list(msgs[0])
        reg = wr[0]
        if len(msgs) == 1:  # a write: register then data
            self.regs[reg : reg + len(wr) - 1] = bytes(wr[1:])
            return
        rd = msgs[1]
        data = bytes(self.regs[reg : reg + rd.len])
        # smbus2's i2c_msg buffer is a ctypes array: fill it as the kernel would
        for i, b in enumerate(data):
            rd.buf[i] = bytes([b])


class ChipMissingError(DeviceMissingError):
    pass


@dataclass(slots=True)
class ChipCounters(I2cCounters):
    frobs: int = 0


class Chip(I2cDevice[ChipCounters]):
    missing_error = ChipMissingError

    def __init__(self, bus: FakeBus) -> None:
        super().__init__(bus, 0x2A, "chip", ChipCounters())


def test_every_transaction_is_counted_with_the_bytes_read() -> None:
    bus = FakeBus()
    dev = Chip(bus)
    assert dev._read(0x10) == 0x10
    dev._write(0x10, 0xAB)
    assert dev._read_block(0x0F, 3) == [0x0F, 0xAB, 0x11]
    dev._write_block(0x20, [1, 2, 3])
    assert bus.calls == ["read_byte", "write_byte", "read_block", "write_block"]
    assert (dev.counters.transactions, dev.counters.bytes_read) == (4, 1 + 3)


def test_burst_reads_use_one_transaction_beyond_the_smbus_block_limit() -> None:
    bus = FakeBus()
    dev = Chip(bus)
    short = dev._burst(0x40, SMBUS_BLOCK_MAX)
    long = dev._burst(0x40, 100)
    assert bus.calls == ["read_block", "rdwr"]
    assert short == bytes(range(0x40, 0x40 + SMBUS_BLOCK_MAX))
    assert long == bytes(range(0x40, 0x40 + 100))
    assert (dev.counters.transactions, dev.counters.bytes_read) == (2, SMBUS_BLOCK_MAX + 100)


def test_block_writes_beyond_the_smbus_limit_go_as_one_raw_write() -> None:
    bus = FakeBus()
    dev = Chip(bus)
    data = [(7 * i) & 0xFF for i in range(64)]
    dev._write_block(0x80, data)
    assert bus.calls == ["rdwr"]
    assert list(bus.regs[0x80 : 0x80 + 64]) == data
    assert (dev.counters.transactions, dev.counters.bytes_read) == (1, 0)


def test_a_transaction_that_fails_still_counts_and_raises() -> None:
    bus = FakeBus()
    dev = Chip(bus)
    bus.fail = OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
    with pytest.raises(OSError):
        dev._read(0)
    assert dev.counters.transactions == 1


def test_checked_registers_compare_masked_bits_and_count_mismatches() -> None:
    bus = FakeBus()
    dev = Chip(bus)
    dev.checked = {0x30: CheckedRegister(0x40, mask=0xF8), 0x31: CheckedRegister(0x01)}
    bus.regs[0x30], bus.regs[0x31] = 0x44, 0x01  # a self-clearing bit still set: not a mismatch
    assert dev._check_registers(0x30, 2) is None
    bus.regs[0x31] = 0x00
    bad = dev._check_registers(0x30, 2)
    assert bad is not None
    assert (bad.reg, bad.got, bad.want) == (0x30, [0x40, 0x00], [0x40, 0x01])
    assert dev.counters.bad_register == 1
    assert bus.calls == ["read_block", "read_block"]  # one burst per check


def test_a_value_already_read_can_be_checked_without_another_transaction() -> None:
    dev = Chip(FakeBus())
    dev.checked[0x00] = CheckedRegister(0x20, mask=0x30)
    assert dev._mismatch(0x00, [0xA0]) is None  # bits outside the mask ignored
    assert dev._mismatch(0x00, [0x30]) is not None
    assert (dev.counters.transactions, dev.counters.bad_register) == (0, 1)


def test_checking_an_unchecked_register_is_a_programming_error() -> None:
    dev = Chip(FakeBus())
    with pytest.raises(KeyError):
        dev._mismatch(0x55, [0])


def test_errno_text_keeps_a_drivers_own_detail() -> None:
    bus_err = OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
    assert describe(bus_err) == f"errno {errno.EREMOTEIO} ({os.strerror(errno.EREMOTEIO)})"
    own = OSError(errno.EIO, "DEVICE_RESET did not clear")
    assert describe(own) == (f"errno {errno.EIO} ({os.strerror(errno.EIO)}): "
                             "DEVICE_RESET did not clear")
    assert describe(OSError("no errno at all")) == "no errno at all"


def test_bring_up_errors_are_the_drivers_own_class_and_name_the_address() -> None:
    dev = Chip(FakeBus())
    err = dev._no_answer(OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO)), "no answer "
                         "from a chip", during="probe")
    assert isinstance(err, ChipMissingError) and err.errno == errno.EREMOTEIO
    assert str(err).endswith(f"chip: no answer from a chip at I2C address 0x2a during probe: "
                             f"errno {errno.EREMOTEIO} ({os.strerror(errno.EREMOTEIO)})")
    wrong = dev._wrong_chip("device at 0x2a answered 0x12")
    assert isinstance(wrong, ChipMissingError) and wrong.errno == errno.ENODEV


def test_health_carries_the_live_typed_counters() -> None:
    dev = Chip(FakeBus())
    h = dev.health()
    assert h.counters is dev.counters and not h.connected
    dev.counters.frobs += 2
    dev._read(1)
    assert isinstance(h.counters, DriverCounters)
    assert h.counters.figures() == {"transactions": 1, "bytes_read": 1, "bad_register": 0,
                                    "frobs": 2}

