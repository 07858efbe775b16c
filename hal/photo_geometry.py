"""Where a still camera looks: its axes on the body, projection of a world point into a photo,
and a pixel's ray back out (the footprint a photo covers on the ground).

One definition for the simulator that renders photos, the flight software that geotags them
and the ground tools that map them. The camera is fixed to the body, looking along body
forward turned ``mount_pitch`` down (about body +y); image columns grow to body right, rows
downward in the image. In body FRD:

    optical axis z_c = ( cos p, 0, sin p)
    columns      x_c = ( 0,     1, 0    )
    rows         y_c = (-sin p, 0, cos p)

A pinhole with square pixels of focal length ``focal_px`` and the principal point at the
image centre: pixel (column c, row r) has its centre at u = c + 0.5, v = r + 0.5, and a point
at camera coordinates (X, Y, Z), Z > 0, lands at u = W/2 + f X/Z, v = H/2 + f Y/Z.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hal.geometry import quat_to_matrix

Vec3 = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class PhotoCameraModel:
    width: int
    height: int
    focal_px: float
    mount_pitch_deg: float  # down from body forward

    @staticmethod
    def from_hfov(width: int, height: int, hfov_deg: float, mount_pitch_deg: float
                  ) -> PhotoCameraModel:
        focal = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
        return PhotoCameraModel(width, height, focal, mount_pitch_deg)

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(0.5 * self.width / self.focal_px))


def photo_camera_axes(mount_pitch_deg: float) -> tuple[Vec3, Vec3, Vec3]:
    """The camera's (x_c, y_c, z_c) axes in body FRD (module docstring)."""
    p = math.radians(mount_pitch_deg)
    c, s = math.cos(p), math.sin(p)
    return (0.0, 1.0, 0.0), (-s, 0.0, c), (c, 0.0, s)


def camera_axes_ned(q_body: Sequence[float], mount_pitch_deg: float) -> tuple[Vec3, Vec3, Vec3]:
    """The camera's axes in NED for a body attitude ``q_body`` (w, x, y, z; body to NED)."""
    r = quat_to_matrix(q_body)
    out = []
    for a in photo_camera_axes(mount_pitch_deg):
        out.append((r[0] * a[0] + r[1] * a[1] + r[2] * a[2],
                    r[3] * a[0] + r[4] * a[1] + r[5] * a[2],
                    r[6] * a[0] + r[7] * a[1] + r[8] * a[2]))
    return out[0], out[1], out[2]


def camera_quat_ned(q_body: Sequence[float], mount_pitch_deg: float
                    ) -> tuple[float, float, float, float]:
    """The optical frame's attitude: (w, x, y, z) rotating camera (x_c, y_c, z_c) to NED."""
    x, y, z = camera_axes_ned(q_body, mount_pitch_deg)
    # columns of the camera -> NED matrix are x, y, z
    m00, m01, m02 = x[0], y[0], z[0]
    m10, m11, m12 = x[1], y[1], z[1]
    m20, m21, m22 = x[2], y[2], z[2]
    tr = m00 + m11 + m22
    if tr > 0.0:
        s = math.sqrt(tr + 1.0) * 2
        q = (0.25 * s, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s)
    elif m00 > m11 and m00 > m22:
        s = math.sqrt(1.0 + m00 - m11 - m22) * 2
        q = ((m21 - m12) / s, 0.25 * s, (m01 + m10) / s, (m02 + m20) / s)
    elif m11 > m22:
        s = math.sqrt(1.0 + m11 - m00 - m22) * 2
        q = ((m02 - m20) / s, (m01 + m10) / s, 0.25 * s, (m12 + m21) / s)
    else:
        s = math.sqrt(1.0 + m22 - m00 - m11) * 2
        q = ((m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25 * s)
    return q if q[0] >= 0.0 else (-q[0], -q[1], -q[2], -q[3])


def project(point_ned: Sequence[float], cam_ned: Sequence[float], q_body: Sequence[float],
            cam: PhotoCameraModel) -> tuple[float, float] | None:
    """(u, v) of a world point in the photo (pixel-edge coordinates, module docstring), or
    None when it is behind the camera. It may fall outside the image."""
    x, y, z = camera_axes_ned(q_body, cam.mount_pitch_deg)
    d = (point_ned[0] - cam_ned[0], point_ned[1] - cam_ned[1], point_ned[2] - cam_ned[2])
    zc = d[0] * z[0] + d[1] * z[1] + d[2] * z[2]
    if zc <= 1e-6:
        return None
    xc = d[0] * x[0] + d[1] * x[1] + d[2] * x[2]
    yc = d[0] * y[0] + d[1] * y[1] + d[2] * y[2]
    return (cam.width / 2 + cam.focal_px * xc / zc, cam.height / 2 + cam.focal_px * yc / zc)


def pixel_ray_ned(u: float, v: float, q_body: Sequence[float], cam: PhotoCameraModel) -> Vec3:
    """Unit direction, in NED, of the ray through image point (u, v)."""
    x, y, z = camera_axes_ned(q_body, cam.mount_pitch_deg)
    a = (u - cam.width / 2) / cam.focal_px
    b = (v - cam.height / 2) / cam.focal_px
    d = tuple(a * x[i] + b * y[i] + z[i] for i in range(3))
    n = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    return d[0] / n, d[1] / n, d[2] / n


def footprint(cam_ned: Sequence[float], q_body: Sequence[float], cam: PhotoCameraModel,
              ground_down_m: float, max_range_m: float = 200.0) -> list[tuple[float, float]]:
    """The photo's outline on flat ground at ``ground_down_m`` (NED down of the ground), as
    (north, east) points around the image border; a ray that meets no ground within
    ``max_range_m`` (above the horizon) is cut there, so the outline stays finite."""
    w, h = cam.width, cam.height
    border = ([(w * i / 8, 0.0) for i in range(8)] + [(w, h * i / 6) for i in range(6)]
              + [(w * (8 - i) / 8, h) for i in range(8)] + [(0.0, h * (6 - i) / 6)
                                                             for i in range(6)])
    out = []
    height = ground_down_m - cam_ned[2]
    for u, v in border:
        d = pixel_ray_ned(u, v, q_body, cam)
        t = height / d[2] if d[2] > 1e-9 else math.inf
        t = min(t, max_range_m)
        out.append((cam_ned[0] + t * d[0], cam_ned[1] + t * d[1]))
    return out
