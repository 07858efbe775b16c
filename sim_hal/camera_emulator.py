"""Serve an emulated serial camera on a pseudo-terminal or a real serial port.

Command: ``python -m sim_hal.camera_emulator --protocol stream|vc0706 [--port /dev/ttyUSB0]``
prints the device path it serves and runs until Ctrl-C. The emulators themselves are
``sim_hal.camera_stream_emu`` and ``sim_hal.vc0706_emu``, on ``sim_hal.camera_emu_base``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence

from sim_hal.camera_emu_base import (
    CameraFaults,
    DeviceClock,
    PtyTransport,
    SerialTransport,
    Transport,
    gradient_source,
)
from sim_hal.camera_stream_emu import StreamCameraEmulator
from sim_hal.vc0706_emu import Vc0706Emulator


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sim_hal.camera_emulator", description=__doc__)
    p.add_argument("--protocol", choices=("stream", "vc0706"), default="stream")
    p.add_argument("--port", help="serve this serial port (default: a new pseudo-terminal)")
    p.add_argument("--link", help="with a pty: keep this symlink pointing at it")
    p.add_argument("--baud", type=int, help="line rate (default 3000000 stream, 38400 vc0706)")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--rate", type=float, default=30.0, help="stream frame rate, Hz")
    p.add_argument("--skew-ppm", type=float, default=0.0)
    p.add_argument("--offset-ns", type=int, default=0)
    p.add_argument("--garbage", type=float, default=0.0, help="garbage probability")
    p.add_argument("--byte-short", type=float, default=0.0, help="byte-short probability")
    p.add_argument("--drop", type=float, default=0.0, help="drop probability")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    faults = CameraFaults(garbage_prob=args.garbage, byte_short_prob=args.byte_short,
                          drop_prob=args.drop)
    baud = args.baud or (3_000_000 if args.protocol == "stream" else 38400)
    transport: Transport = (
        SerialTransport(args.port, baud) if args.port else PtyTransport(args.link)
    )
    emu: StreamCameraEmulator | Vc0706Emulator
    if args.protocol == "stream":
        emu = StreamCameraEmulator(
            gradient_source(args.width, args.height), transport=transport, width=args.width,
            height=args.height, rate_hz=args.rate, baud=baud, faults=faults, seed=args.seed,
            device_clock=DeviceClock(args.offset_ns, args.skew_ppm),
        )
    else:
        emu = Vc0706Emulator(gradient_source(640, 480), transport=transport, baud=baud,
                             faults=faults, seed=args.seed)
    # SIGTERM (and a SIGINT a non-interactive shell set to ignore) end the run cleanly too
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    emu.start()
    sys.stdout.write(f"{transport.path}\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
