"""Objects standing on the simulated ground (a scenario's ``[[world.objects]]``), as boxes.

Only the still camera sees them (``sim_hal.render_photo``): the vehicle, the altimeter and
the navigation camera fly over the bare ground, so adding a rover never changes a flight.

A rover is Perseverance-sized (REFERENCE.md: about 3 m long, 2.7 m wide, 2.2 m tall to the
top of its mast) and built from a handful of oriented boxes: six wheels, the rocker-bogie
beams, the body, its deck, the power source at the back, the stowed arm's turret at the
front, the mast and its camera head. It stands on the plane fitted through the ground under
its six wheels (tilted with a slope, yaw from ``heading_deg``), like the helicopter on its
four feet (``sim_hal.world``).

Object frame: x forward, y right, z down (FRD, as the body), origin on the ground plane under
the rover's centre. Boxes are written below as (forward, right, up) extents, easier to read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from hal.tomlschema import rng
from sim_hal.terrain import HeightField

F64 = npt.NDArray[np.float64]
RGB = tuple[int, int, int]

# Colours: Perseverance is white and light grey with dark wheels and dark parts.
WHITE: RGB = (222, 220, 212)
LIGHT: RGB = (186, 186, 182)
DARK: RGB = (78, 78, 80)
WHEEL: RGB = (58, 58, 60)

# (name, (fwd lo, fwd hi), (right lo, right hi), (up lo, up hi), colour), metres
_WHEEL_D = 0.525  # Perseverance's wheels are 52.5 cm across
_WHEEL_W = 0.40
_WHEEL_X = (-1.2, 0.0, 1.2)
_WHEEL_Y = 1.35 - _WHEEL_W / 2  # outer faces at the rover's full width
_ROVER: list[tuple[str, tuple[float, float], tuple[float, float], tuple[float, float], RGB]] = [
    *[(f"wheel {'rcf'[i]}{side}", (x - _WHEEL_D / 2, x + _WHEEL_D / 2),
       (s * _WHEEL_Y - _WHEEL_W / 2, s * _WHEEL_Y + _WHEEL_W / 2), (0.0, _WHEEL_D), WHEEL)
      for i, x in enumerate(_WHEEL_X) for side, s in (("l", -1.0), ("r", 1.0))],
    ("rocker left", (-1.25, 1.25), (-1.0, -0.9), (0.45, 0.62), DARK),
    ("rocker right", (-1.25, 1.25), (0.9, 1.0), (0.45, 0.62), DARK),
    ("body", (-1.25, 1.25), (-0.9, 0.9), (0.62, 1.12), LIGHT),
    ("deck", (-1.3, 1.3), (-1.0, 1.0), (1.12, 1.22), WHITE),
    ("power source", (-1.5, -1.25), (-0.3, 0.3), (0.75, 1.35), DARK),
    ("arm turret", (1.25, 1.5), (-0.3, 0.3), (0.6, 0.9), DARK),
    ("mast", (0.9, 1.05), (0.55, 0.7), (1.22, 1.9), WHITE),
    ("camera head", (0.82, 1.12), (0.4, 0.85), (1.9, 2.2), LIGHT),
]
ROVER_SIZE_M = (3.0, 2.7, 2.2)  # length, width, height: the boxes above span exactly this


@dataclass
class SceneObjectSettings:
    """One ``[[world.objects]]`` entry."""

    north_m: float = field(metadata=rng(-100_000, 100_000))  # where it stands: required
    east_m: float = field(metadata=rng(-100_000, 100_000))
    kind: Literal["rover"] = "rover"
    heading_deg: float = field(default=0.0, metadata=rng(-360, 360))


@dataclass(frozen=True, eq=False)
class Box:
    """An oriented box in NED: ``centre`` + ``axes @ (x, y, z)`` for |x|, |y|, |z| <= half."""

    name: str
    centre: F64  # (3,)
    axes: F64  # (3, 3): columns are the box's x, y, z axes in NED
    half: F64  # (3,)
    colour: RGB

    def corners(self) -> F64:
        """The eight corners, (8, 3) NED."""
        signs = np.array([(a, b, c) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)],
                         dtype=np.float64)
        return self.centre + (signs * self.half) @ self.axes.T


@dataclass(frozen=True, eq=False)
class PlacedObject:
    """An object set on the ground: its boxes, where it stands and how it is turned."""

    kind: str
    boxes: tuple[Box, ...]
    origin_ned: F64  # the ground point under its centre
    axes: F64  # (3, 3): columns are its forward, right, down axes in NED
    size_m: tuple[float, float, float]  # length, width, height

    def corners_ned(self) -> F64:
        """Every box's corners, (8 * boxes, 3): their projections bound its silhouette."""
        return np.concatenate([b.corners() for b in self.boxes])

    def centre_ned(self) -> F64:
        """The middle of its bounding box (half its height above the ground)."""
        return self.origin_ned - self.axes[:, 2] * (self.size_m[2] / 2)

    def bounding_corners_ned(self) -> F64:
        """The eight corners of its oriented bounding box, (8, 3)."""
        length, width, height = self.size_m
        out = []
        for x in (-length / 2, length / 2):
            for y in (-width / 2, width / 2):
                for up in (0.0, height):
                    out.append(self.origin_ned + self.axes @ np.array([x, y, -up]))
        return np.array(out)


def _ground_plane(terrain: HeightField | None, north: float, east: float, heading: float
                  ) -> tuple[float, float, float]:
    """(height at the centre, dh/dforward, dh/dright) of the least-squares plane through the
    ground under the six wheels (the wheels sit symmetric about the centre, so the fit
    decouples into means)."""
    if terrain is None:
        return 0.0, 0.0, 0.0
    c, s = math.cos(heading), math.sin(heading)
    xs = [x for x in _WHEEL_X for _ in (0, 1)]
    ys = [y for _ in _WHEEL_X for y in (-_WHEEL_Y, _WHEEL_Y)]
    hs = [terrain.height(north + c * x - s * y, east + s * x + c * y)
          for x, y in zip(xs, ys, strict=True)]
    mean = sum(hs) / len(hs)
    b = sum(h * x for h, x in zip(hs, xs, strict=True)) / sum(x * x for x in xs)
    k = sum(h * y for h, y in zip(hs, ys, strict=True)) / sum(y * y for y in ys)
    return mean, b, k


def _frame(heading: float, b: float, k: float) -> F64:
    """Object-to-NED rotation: yaw ``heading``, then the plane of slopes b (forward) and k
    (right): down along the plane's downward normal, forward along the plane."""
    z = np.array([b, k, 1.0]) / math.sqrt(1.0 + b * b + k * k)
    x = np.array([1.0, 0.0, -b]) / math.sqrt(1.0 + b * b)
    y = np.cross(z, x)
    c, s = math.cos(heading), math.sin(heading)
    yaw = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return yaw @ np.column_stack([x, y, z])


def place_rover(obj: SceneObjectSettings, terrain: HeightField | None) -> PlacedObject:
    heading = math.radians(obj.heading_deg)
    h0, b, k = _ground_plane(terrain, obj.north_m, obj.east_m, heading)
    axes = _frame(heading, b, k)
    origin = np.array([obj.north_m, obj.east_m, -h0])
    boxes = []
    for name, (x0, x1), (y0, y1), (u0, u1), colour in _ROVER:
        local = np.array([(x0 + x1) / 2, (y0 + y1) / 2, -(u0 + u1) / 2])
        half = np.array([(x1 - x0) / 2, (y1 - y0) / 2, (u1 - u0) / 2])
        boxes.append(Box(name, origin + axes @ local, axes, half, colour))
    return PlacedObject("rover", tuple(boxes), origin, axes, ROVER_SIZE_M)


def place_objects(objects: list[SceneObjectSettings], terrain: HeightField | None
                  ) -> list[PlacedObject]:
    """Every configured object set on the ground (``terrain`` None: the plane down = 0)."""
    return [place_rover(o, terrain) for o in objects]
