"""The wind acts on the vehicle through drag on its air-relative velocity."""

from __future__ import annotations

import pytest

from sim_hal.wind import Wind, WindSettings
from sim_hal.world import VehicleParams, World


def _hovering(wind: Wind | None, vel: tuple[float, float, float]) -> World:
    p = VehicleParams()
    world = World(p, 3.71, wind=wind)
    world.on_ground = False
    world.pos = [0.0, 0.0, -10.0]
    world.vel = list(vel)
    hover = p.mass_kg * 3.71 / 4 / world.max_thrust_n
    world.set_motor_commands([hover] * 4)
    world.thrust = [hover * world.max_thrust_n] * 4  # already spun up
    return world


@pytest.mark.parametrize("vel", [(0.0, 0.0, 0.0), (2.0, -1.0, 0.0)])
def test_drag_acts_on_the_velocity_relative_to_the_wind(vel: tuple[float, float, float]) -> None:
    p = VehicleParams()
    wind = Wind(WindSettings(speed_mps=5.0, direction_deg=0.0), seed=1, t0_ns=0)  # to south
    world = _hovering(wind, vel)
    world.step(1_000_000)
    rel = (vel[0] + 5.0, vel[1], vel[2])
    speed = sum(c * c for c in rel) ** 0.5
    kd = p.drag_linear + p.drag_quadratic * speed
    assert world.accel[0] == pytest.approx(-kd * rel[0] / p.mass_kg, rel=1e-9)
    assert world.accel[1] == pytest.approx(-kd * rel[1] / p.mass_kg, rel=1e-9)


def test_moving_with_the_wind_feels_no_drag() -> None:
    wind = Wind(WindSettings(speed_mps=5.0, direction_deg=90.0), seed=1, t0_ns=0)  # to west
    world = _hovering(wind, (0.0, -5.0, 0.0))
    world.step(1_000_000)
    assert world.accel[0] == pytest.approx(0.0, abs=1e-12)
    assert world.accel[1] == pytest.approx(0.0, abs=1e-12)


def test_no_wind_object_is_still_air() -> None:
    world = _hovering(None, (3.0, 0.0, 0.0))
    world.step(1_000_000)
    p = VehicleParams()
    assert world.accel[0] == pytest.approx(-(p.drag_linear + p.drag_quadratic * 3.0) * 3.0
                                           / p.mass_kg, rel=1e-9)
