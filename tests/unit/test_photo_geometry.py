"""hal.photo_geometry: the still camera's axes, projection and rays agree with each other and
with plain geometry worked by hand."""

from __future__ import annotations

import math

import pytest

from hal.geometry import euler_to_quat, quat_to_matrix
from hal.photo_geometry import (
    PhotoCameraModel,
    camera_axes_ned,
    camera_quat_ned,
    footprint,
    pixel_ray_ned,
    project,
)

CAM = PhotoCameraModel.from_hfov(640, 480, 90.0, 30.0)
LEVEL_NORTH = euler_to_quat(0.0, 0.0, 0.0)


def test_a_90_degree_field_of_view_has_a_focal_length_of_half_the_width() -> None:
    assert CAM.focal_px == pytest.approx(320.0)
    assert CAM.hfov_deg == pytest.approx(90.0)


def test_level_and_facing_north_the_camera_looks_north_and_down_by_its_mount() -> None:
    x, _, z = camera_axes_ned(LEVEL_NORTH, 30.0)
    assert x == pytest.approx((0.0, 1.0, 0.0))  # columns grow east
    assert z == pytest.approx((math.cos(math.radians(30)), 0.0, math.sin(math.radians(30))))
    # a point on the optical axis 10 m away lands at the image centre
    p = tuple(10.0 * c for c in z)
    assert project(p, (0.0, 0.0, 0.0), LEVEL_NORTH, CAM) == pytest.approx((320.0, 240.0))
    # ground straight ahead and below appears lower in the image than the horizon
    near = project((5.0, 0.0, 5.0), (0.0, 0.0, 0.0), LEVEL_NORTH, CAM)
    far = project((50.0, 0.0, 5.0), (0.0, 0.0, 0.0), LEVEL_NORTH, CAM)
    assert near is not None and far is not None and near[1] > far[1] > 0
    assert project((-5.0, 0.0, 0.0), (0.0, 0.0, 0.0), LEVEL_NORTH, CAM) is None  # behind


@pytest.mark.parametrize("roll,pitch,yaw", [(0.0, 0.0, 0.0), (0.1, -0.2, 2.0), (-0.3, 0.1, -1.0)])
def test_a_pixels_ray_projects_back_onto_that_pixel(roll: float, pitch: float, yaw: float
                                                     ) -> None:
    q = euler_to_quat(roll, pitch, yaw)
    cam_pos = (3.0, -2.0, -10.0)
    for u, v in ((0.0, 0.0), (320.0, 240.0), (600.5, 17.25), (10.0, 470.0)):
        d = pixel_ray_ned(u, v, q, CAM)
        p = tuple(cam_pos[i] + 7.0 * d[i] for i in range(3))
        assert project(p, cam_pos, q, CAM) == pytest.approx((u, v), abs=1e-9)


def test_the_camera_quaternion_rotates_its_axes_into_ned() -> None:
    q = euler_to_quat(0.2, -0.1, 1.2)
    r = quat_to_matrix(camera_quat_ned(q, 25.0))
    x, y, z = camera_axes_ned(q, 25.0)
    for i, axis in enumerate((x, y, z)):
        assert (r[i], r[3 + i], r[6 + i]) == pytest.approx(axis, abs=1e-12)


def test_a_footprint_from_10_m_up_on_flat_ground() -> None:
    # looking straight down (mount 90 deg), level: a square 2 * 10 * tan(45 deg) wide
    cam = PhotoCameraModel.from_hfov(640, 640, 90.0, 90.0)
    pts = footprint((0.0, 0.0, -10.0), LEVEL_NORTH, cam, ground_down_m=0.0)
    norths = [p[0] for p in pts]
    easts = [p[1] for p in pts]
    assert max(easts) == pytest.approx(10.0) and min(easts) == pytest.approx(-10.0)
    assert max(norths) == pytest.approx(10.0) and min(norths) == pytest.approx(-10.0)
    # looking at the horizon, the top edge is cut at max_range_m
    far = footprint((0.0, 0.0, -10.0), LEVEL_NORTH, CAM, 0.0, max_range_m=100.0)
    assert max(p[0] for p in far) == pytest.approx(100.0, rel=0.05)
