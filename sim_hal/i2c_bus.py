"""An emulated I2C bus with the smbus2.SMBus methods drivers use, routing by address to chips.

Each call is one bus transaction (an smbus2 call or one ``i2c_rdwr`` with repeated starts),
counted with its bytes. A chip sees the bus the way a register-pointer device does: a write
sets its register pointer with the first byte and writes the rest; a read returns bytes from
the pointer (auto-increment is the chip's business, e.g. a FIFO port that does not advance).

Faults are injected per address, mirroring what Linux i2c-dev reports: NACK -> OSError 121
(EREMOTEIO), timeout -> 110 (ETIMEDOUT), other bus errors -> 5 (EIO). An address with no chip
NACKs. "stuck" makes every byte read repeat the last byte the bus carried (SDA held);
"reset" power-cycles the chip at its next transaction.
"""

from __future__ import annotations

import ctypes
import errno
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hal.interfaces import Clock

I2C_M_RD = 0x0001  # linux/i2c.h: message is a read
SMBUS_BLOCK_MAX = 32  # linux/i2c.h I2C_SMBUS_BLOCK_MAX; smbus2 refuses longer block transfers

FaultKind = Literal["nack", "eio", "timeout", "stuck", "reset"]
_ERRNO = {"nack": errno.EREMOTEIO, "eio": errno.EIO, "timeout": errno.ETIMEDOUT}


class I2cChip(Protocol):
    def i2c_write(self, data: bytes) -> None:
        """A write transaction's payload: first byte is the register pointer."""
        ...

    def i2c_read(self, n: int) -> bytes:
        """Read ``n`` bytes from the register pointer."""
        ...

    def power_on_reset(self) -> None: ...


@dataclass
class _Fault:
    kind: FaultKind
    probability: float
    remaining: int | None  # None: until cleared


@dataclass
class BusCounters:
    transactions: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    failed: int = 0


class EmulatedI2cBus:
    def __init__(self, clock: Clock, seed: int = 0) -> None:
        self.clock = clock
        self._chips: dict[int, I2cChip] = {}
        self._faults: dict[int, list[_Fault]] = {}
        self._rng = random.Random(seed)
        self._last_byte = 0xFF
        self.counters = BusCounters()
        self.per_address: dict[int, BusCounters] = {}
        self.closed = False

    # -- wiring and faults ---------------------------------------------------------------

    def attach(self, address: int, chip: I2cChip) -> None:
        self._chips[address] = chip

    def detach(self, address: int) -> None:
        self._chips.pop(address, None)

    def inject(
        self,
        address: int,
        kind: FaultKind,
        probability: float = 1.0,
        count: int | None = None,
    ) -> None:
        """Fault the next transactions to ``address``: each with ``probability``, for ``count``
        faulted transactions (None: until ``clear``). "reset" fires once unless given a count."""
        if kind == "reset" and count is None:
            count = 1
        self._faults.setdefault(address, []).append(_Fault(kind, probability, count))

    def clear(self, address: int | None = None) -> None:
        if address is None:
            self._faults.clear()
        else:
            self._faults.pop(address, None)

    # -- transaction core ----------------------------------------------------------------

    def _begin(self, address: int) -> tuple[I2cChip, bool]:
        """Count the transaction; apply faults. Returns the chip and whether reads are stuck."""
        self.counters.transactions += 1
        per = self.per_address.setdefault(address, BusCounters())
        per.transactions += 1
        if self.closed:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        stuck = False
        faults = self._faults.get(address)
        if faults:
            for f in list(faults):
                if f.probability < 1.0 and self._rng.random() >= f.probability:
                    continue
                if f.remaining is not None:
                    f.remaining -= 1
                    if f.remaining <= 0:
                        faults.remove(f)
                if f.kind == "reset":
                    chip = self._chips.get(address)
                    if chip is not None:
                        chip.power_on_reset()
                elif f.kind == "stuck":
                    stuck = True
                else:
                    self.counters.failed += 1
                    per.failed += 1
                    code = _ERRNO[f.kind]
                    raise OSError(code, os.strerror(code))
        chip = self._chips.get(address)
        if chip is None:
            self.counters.failed += 1
            per.failed += 1
            raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
        return chip, stuck

    def _write(self, address: int, chip: I2cChip, data: bytes) -> None:
        chip.i2c_write(data)
        self.counters.bytes_written += len(data)
        self.per_address[address].bytes_written += len(data)
        if data:
            self._last_byte = data[-1]

    def _read(self, address: int, chip: I2cChip, n: int, stuck: bool) -> bytes:
        out = bytes([self._last_byte]) * n if stuck else chip.i2c_read(n)
        self.counters.bytes_read += n
        self.per_address[address].bytes_read += n
        if out:
            self._last_byte = out[-1]
        return out

    # -- smbus2.SMBus-compatible methods -------------------------------------------------

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        chip, stuck = self._begin(i2c_addr)
        self._write(i2c_addr, chip, bytes([register]))
        return self._read(i2c_addr, chip, 1, stuck)[0]

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        chip, _ = self._begin(i2c_addr)
        self._write(i2c_addr, chip, bytes([register, value & 0xFF]))

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        if length > SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {SMBUS_BLOCK_MAX} bytes")
        chip, stuck = self._begin(i2c_addr)
        self._write(i2c_addr, chip, bytes([register]))
        return list(self._read(i2c_addr, chip, length, stuck))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        chip, _ = self._begin(i2c_addr)
        self._write(i2c_addr, chip, bytes([register, *(b & 0xFF for b in data)]))

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        chip, stuck = self._begin(i2c_addr)
        return self._read(i2c_addr, chip, 1, stuck)[0]

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        chip, _ = self._begin(i2c_addr)
        self._write(i2c_addr, chip, bytes([value & 0xFF]))

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:
        """One combined transaction of ``smbus2.i2c_msg`` messages (repeated starts)."""
        if not i2c_msgs:
            return
        address = int(i2c_msgs[0].addr)
        chip, stuck = self._begin(address)
        for msg in i2c_msgs:
            if int(msg.addr) != address:
                # A different address inside one transaction: route it, but as its own device.
                address = int(msg.addr)
                chip, stuck = self._begin(address)
            if int(msg.flags) & I2C_M_RD:
                data = self._read(address, chip, int(msg.len), stuck)
                ctypes.memmove(msg.buf, data, len(data))
            else:
                self._write(address, chip, bytes(msg))

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> EmulatedI2cBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ManualClock:
    """A clock that only moves when told (tests, benchmarks): ``sleep_until`` jumps there."""

    def __init__(self, t_ns: int = 1_000_000_000) -> None:
        self.t_ns = t_ns

    def now_ns(self) -> int:
        return self.t_ns

    def sleep_until(self, t_ns: int) -> None:
        self.t_ns = max(self.t_ns, t_ns)

    def advance(self, dt_ns: int) -> None:
        self.t_ns += dt_ns
