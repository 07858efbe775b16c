"""Hardware-in-the-loop backend: the real drivers, through real transports, to emulated devices
that the simulated world drives -- in real time.

What runs: ``hal.mpu6050.Mpu6050``, ``hal.lidarlite.LidarLiteV3`` and ``hal.pca9685.Pca9685`` on
an ``EmulatedI2cBus`` with the register-level chip emulators attached, and
``hal.camera_stream.StreamCamera`` reading a real pseudo-terminal that a
``StreamCameraEmulator`` thread writes, paced at the configured baud rate. The camera link is
real I/O served by a real-time thread, so the world cannot be stepped in lockstep as in
``sim_hal.backend``: ``HilClock.sleep_until`` sleeps to the absolute deadline on the monotonic
clock and then steps the world in fixed 1 ms steps up to the current time.

The emulators read the world at their own sample times: the IMU and altimeter emulators run
inside the driver's bus transactions on the control thread, and look their time up in a short
history of world steps (the state after the step that contains the time, as the lockstep sim
does). The camera emulator runs on its own thread; it copies the pose under ``HilWorld.lock``
(held by the control thread only while it steps the world) and renders outside the lock, so
it never sees a half-stepped state and never blocks the loop for a render.

Scenario faults arrive relative to the flight's start; ``HilFaultInjector`` anchors them when
the deployment code calls ``Hal.flight_started`` (after preflight, right before the first
cycle), applies every fault kind at its onset and removes it at its end, on the emulators, the
bus or the camera transport (the table is in ``HilFaultInjector``'s doc).

The photo camera is the rig's VC0706 still driver (``hal.vc0706_still``) on a second pty to a
``Vc0706Emulator`` serving colour JPEGs of the world; ``Hal.photo_truth`` gives the world at
each photo's true mid-exposure.

The package, one module a job: ``settings`` (``[hil]``), ``world_link`` (the world shared with
the emulators), ``clock``, ``emulators`` (the chip and board emulators with fault hooks),
``delay_line`` (a delaying transport), ``injector`` (scenario faults), ``photo`` (the photo
camera, its picture source and truth), ``assembly`` (the Hal), ``bench`` (bench targets).
"""

from sim_hal.hil.assembly import HilHal, HilParts, HilTruth, build_hil, build_hil_parts
from sim_hal.hil.bench import hil_camera_bench_target, hil_i2c_bench_target
from sim_hal.hil.delay_line import DelayLine
from sim_hal.hil.settings import HilSettings, load_hil_settings
from sim_hal.hil.world_link import HilWorld

__all__ = [
    "DelayLine",
    "HilHal",
    "HilParts",
    "HilSettings",
    "HilTruth",
    "HilWorld",
    "build_hil",
    "build_hil_parts",
    "hil_camera_bench_target",
    "hil_i2c_bench_target",
    "load_hil_settings",
]
