"""I2C plumbing every chip driver shares, after ArduPilot's AP_HAL::Device: register reads and
writes through one SMBus-like object, burst transfers beyond SMBus's 32-byte block, transaction
counters, errno text for messages, and checked registers (values the driver wrote that a periodic
read-back must find again: a bus glitch, or a chip that reset itself, shows as a mismatch).

A driver subclasses ``I2cDevice`` with its own counters (a subclass of ``I2cCounters``) and its
own ``missing_error``; the chip's register map and behaviour stay in the driver's file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from smbus2 import i2c_msg

from hal.types import DeviceHealth, DriverCounters

SMBUS_BLOCK_MAX = 32  # SMBus block transfers carry at most 32 data bytes


class SMBusLike(Protocol):
    """The part of ``smbus2.SMBus`` the drivers use (``sim_hal``'s emulated bus has the same)."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None: ...
    def i2c_rdwr(self, *i2c_msgs: Any) -> None: ...


class DeviceMissingError(OSError):
    """No answer, or the wrong answer, at the configured address; the message says which."""


def describe(exc: OSError) -> str:
    """A bus error as 'errno 121 (Remote I/O error)', keeping a driver's own detail if any."""
    if exc.errno is None:
        return str(exc)
    standard = os.strerror(exc.errno)
    text = f"errno {exc.errno} ({standard})"
    if exc.strerror and exc.strerror != standard:
        text += f": {exc.strerror}"
    return text


@dataclass(slots=True)
class I2cCounters(DriverCounters):
    transactions: int = 0
    bytes_read: int = 0
    bad_register: int = 0  # checked registers that read back other than written


@dataclass(frozen=True, slots=True)
class CheckedRegister:
    value: int
    mask: int = 0xFF  # the bits a read-back must match (self-clearing bits left out)


@dataclass(frozen=True, slots=True)
class RegisterMismatch:
    reg: int  # first register of the group read
    got: list[int]  # masked
    want: list[int]  # masked


CountersT = TypeVar("CountersT", bound=I2cCounters)


class I2cDevice(Generic[CountersT]):
    """One chip at one address on a shared bus."""

    missing_error: type[DeviceMissingError] = DeviceMissingError

    def __init__(self, bus: SMBusLike, address: int, name: str, counters: CountersT) -> None:
        self.bus = bus
        self.addr = address
        self.name = name
        self.counters = counters
        self.checked: dict[int, CheckedRegister] = {}
        self._health = DeviceHealth(connected=False, counters=counters)

    def health(self) -> DeviceHealth:
        return self._health

    # -- register access (every transaction counted) ---------------------------------------

    def _count(self, nbytes: int) -> None:
        self.counters.transactions += 1
        self.counters.bytes_read += nbytes

    def _read(self, reg: int) -> int:
        self._count(1)
        return int(self.bus.read_byte_data(self.addr, reg))

    def _write(self, reg: int, value: int) -> None:
        self._count(0)
        self.bus.write_byte_data(self.addr, reg, value)

    def _read_block(self, reg: int, n: int) -> list[int]:
        self._count(n)
        return list(self.bus.read_i2c_block_data(self.addr, reg, n))

    def _burst(self, reg: int, n: int) -> bytes:
        """``n`` bytes from ``reg`` in one transaction (i2c_rdwr beyond the SMBus 32)."""
        if n <= SMBUS_BLOCK_MAX:
            return bytes(self._read_block(reg, n))
        self._count(n)
        wr = i2c_msg.write(self.addr, [reg])
        rd = i2c_msg.read(self.addr, n)
        self.bus.i2c_rdwr(wr, rd)
        return bytes(rd)

    def _write_block(self, reg: int, data: list[int]) -> None:
        """``data`` from ``reg`` on in one transaction (i2c_rdwr beyond the SMBus 32)."""
        self._count(0)
        if len(data) <= SMBUS_BLOCK_MAX:
            self.bus.write_i2c_block_data(self.addr, reg, data)
        else:
            self.bus.i2c_rdwr(i2c_msg.write(self.addr, [reg, *data]))

    # -- checked registers -------------------------------------------------------------------

    def _mismatch(self, reg: int, got: Sequence[int]) -> RegisterMismatch | None:
        """Compare values read from ``reg`` on with what was written there (every register in
        the range must be checked); a mismatch is counted and returned."""
        expected = [self.checked[reg + i] for i in range(len(got))]
        have = [g & c.mask for g, c in zip(got, expected, strict=True)]
        want = [c.value & c.mask for c in expected]
        if have == want:
            return None
        self.counters.bad_register += 1
        return RegisterMismatch(reg, have, want)

    def _check_registers(self, reg: int, n: int) -> RegisterMismatch | None:
        """Read ``n`` checked registers from ``reg`` in one burst and compare them."""
        return self._mismatch(reg, self._read_block(reg, n))

    # -- errors ------------------------------------------------------------------------------

    def _no_answer(self, exc: OSError, chip: str, during: str = "") -> DeviceMissingError:
        """The error for a bring-up that failed on the bus, naming the address (raise it
        ``from exc``)."""
        when = f" during {during}" if during else ""
        return self.missing_error(
            exc.errno or errno.EIO,
            f"{self.name}: {chip} at I2C address 0x{self.addr:02x}{when}: {describe(exc)}",
        )

    def _wrong_chip(self, detail: str) -> DeviceMissingError:
        """The error for a device that answered but is not the chip expected."""
        return self.missing_error(errno.ENODEV, f"{self.name}: {detail}")
