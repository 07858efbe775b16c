"""The colour still camera's picture of the simulated world: Mars ground, sky, objects.

Geometry is ``hal.photo_geometry``'s, the one definition the flight software and the ground
tools use too: pixel (column c, row r) looks along ``a x_c + b y_c + z_c`` with
a = (c + 0.5 - W/2) / f, b = (r + 0.5 - H/2) / f, so a point lands in the picture exactly
where ``photo_geometry.project`` puts it.

Per picture:
1. The ground. Flat (no height field): each pixel's ray meets the plane down = 0
   analytically. A height field: rays on a coarse pixel grid (every ``depth_step_px``
   pixels, the last row and column included) are marched to their hits
   (``sim_hal.ray_march``); hit heights, the ground/sky mask and the appearance maps
   (``texture.SurfaceMaps``: albedo, sand) are interpolated to every pixel, and each pixel's
   range follows from its own ray and that height (``render_terrain``'s upsampling), so a
   ridge's outline against the sky is softened over ``depth_step_px`` pixels at most.
2. Ground colour: the fine grey texture (``render.GroundTexture``, the navigation camera's,
   the same seed and texel size: both cameras see the same ground), read per pixel in the mip
   level matching the pixel's footprint (it grows from centimetres under the vehicle to
   metres toward the horizon), times the albedo, mapped to Mars colours
   (``sim_hal.mars_colours``), then the haze of the range.
3. The sky where a ray meets no ground.
4. Objects (``sim_hal.scene_objects``): every pixel inside an object's projected outline is
   cast against its boxes (``sim_hal.ray_boxes``), and drawn where the box is nearer than
   the ground; each face shaded by its normal against the sun (plus light from the sky
   above), so the boxes read as solids. One ray per pixel: edges are exact to the pixel.

No randomness at render time: a picture depends only on the world, the seed and the pose.
Not modelled: shadows (the rover's on the ground, the terrain's on itself beyond the
albedo's shading), motion blur, lens distortion, noise, colour calibration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hal.photo_geometry import PhotoCameraModel, camera_axes_ned
from sim_hal import mars_colours
from sim_hal.ray_boxes import hit_boxes
from sim_hal.ray_march import march
from sim_hal.render import GroundTexture, sample_level
from sim_hal.render_terrain import _coarse_pixels, _upsample_axis
from sim_hal.scene_objects import PlacedObject
from sim_hal.terrain import HeightField
from sim_hal.texture import SurfaceMaps
from sim_hal.world_settings import WorldParts

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
Vec3 = tuple[float, float, float]

MAX_RANGE_M = 3000.0  # ground farther than this is drawn there (under full haze anyway)
_MIN_DOWN = 1e-4  # flat ground: rays less steep than this are sky
_MIN_GRAZE = 0.02  # footprint stretch capped at 1/sqrt of this (the mip level near horizon)
AMBIENT, SUNLIT, SKYLIT = 0.45, 0.5, 0.1  # an object face: ambient + sun + sky from above


class PhotoRenderer:
    """Renders the colour photo (``render``) of one world for one camera model.

    ``parts``: the built world (terrain, appearance maps, objects and sun; None: the flat,
    uniform world). ``objects`` and ``sun_ned`` override the parts' own. ``seed`` and
    ``texel_m`` choose the fine ground texture (give the navigation camera's to see the same
    ground). Building it generates that texture (a fraction of a second): build it where
    that cost does not matter (the simulated camera builds it on its worker thread).
    """

    def __init__(self, parts: WorldParts | None, model: PhotoCameraModel, seed: int, *,
                 objects: Sequence[PlacedObject] | None = None, sun_ned: Vec3 | None = None,
                 texel_m: float = 0.04, depth_step_px: int = 2,
                 max_range_m: float = MAX_RANGE_M) -> None:
        if depth_step_px < 1:
            raise ValueError(f"depth_step_px must be >= 1 (got {depth_step_px})")
        self.model = model
        self.terrain: HeightField | None = parts.terrain if parts is not None else None
        self.surface: SurfaceMaps | None = parts.surface if parts is not None else None
        if objects is None:
            objects = parts.objects if parts is not None else []
        self.objects = list(objects)
        sun = sun_ned if sun_ned is not None else (
            parts.sun_ned if parts is not None else (0.0, 0.0, -1.0))
        self.sun = np.asarray(sun, dtype=np.float64) / math.sqrt(sum(s * s for s in sun))
        self.texture = GroundTexture(seed=seed, texel_m=texel_m)
        self.step = depth_step_px
        self.max_range_m = max_range_m
        w, h, f = model.width, model.height, model.focal_px
        # per pixel, the unit ray's components along the camera's x, y, z axes
        a = ((np.arange(w) + 0.5 - w / 2) / f)[None, :]
        b = ((np.arange(h) + 0.5 - h / 2) / f)[:, None]
        inv = 1.0 / np.sqrt(a * a + b * b + 1.0)
        self._ray = [np.ascontiguousarray(a * inv, dtype=np.float32),
                     np.ascontiguousarray(b * inv, dtype=np.float32),
                     np.ascontiguousarray(inv, dtype=np.float32)]
        # the same on the coarse grid (float64: the march's ranges reach kilometres)
        ca = ((_coarse_pixels(w, self.step) + 0.5 - w / 2) / f)[None, :]
        cb = ((_coarse_pixels(h, self.step) + 0.5 - h / 2) / f)[:, None]
        cinv = 1.0 / np.sqrt(ca * ca + cb * cb + 1.0)
        self._coarse = [ca * cinv, cb * cinv, np.broadcast_to(cinv, cinv.shape)]
        if self.surface is not None:
            s = self.surface
            self._maps = np.ascontiguousarray(np.stack([s.albedo, s.contrast], axis=1))

    # -- the frame ---------------------------------------------------------------------------
    def render(self, position_ned: Sequence[float], q_body: Sequence[float]) -> U8:
        """The photo, (height, width, 3) uint8 RGB, from a camera at ``position_ned`` on a
        body of attitude ``q_body`` (w, x, y, z; body FRD to NED)."""
        m = self.model
        pos = (float(position_ned[0]), float(position_ned[1]), float(position_ned[2]))
        axes = np.array(camera_axes_ned(q_body, m.mount_pitch_deg), dtype=np.float64)  # rows
        dn, de, dd = (self._rotate(self._ray, axes[:, i]) for i in range(3))
        rng, ground, albedo, contrast = self._ground(pos, axes, dn, de, dd)
        colour = self._ground_colour(pos, rng, dn, de, dd, albedo, contrast)
        sky = ~ground
        if sky.any():
            sun = self.sun
            sun_cos = dn[sky] * sun[0] + de[sky] * sun[1] + dd[sky] * sun[2]
            colour[sky] = mars_colours.sky(-dd[sky], sun_cos)
        depth = np.where(ground, rng, np.float32(np.inf))
        for obj in self.objects:
            self._draw_object(obj, pos, axes, dn, de, dd, depth, colour)
        colour += 0.5
        np.clip(colour, 0.0, 255.0, out=colour)
        return colour.astype(np.uint8)

    @staticmethod
    def _rotate(ray: list[F32], comp: F64) -> F32:
        """One NED component of every unit ray: ``comp`` holds that component of the
        camera's x, y, z axes."""
        out = ray[0] * np.float32(comp[0])
        out += ray[1] * np.float32(comp[1])
        out += ray[2] * np.float32(comp[2])
        return out

    # -- the ground --------------------------------------------------------------------------
    def _ground(self, pos: Vec3, axes: F64, dn: F32, de: F32, dd: F32
                ) -> tuple[F32, npt.NDArray[np.bool_], F32 | None, F32 | None]:
        """Per pixel: range to the ground (1 where sky), ground or not, albedo and contrast
        (None for the uniform world)."""
        alt = -pos[2]
        hf = self.terrain
        if hf is None:  # the plane down = 0, exact per pixel
            ground = dd > _MIN_DOWN
            rng = np.where(ground, max(alt, 0.0) / np.where(ground, dd, 1.0), 1.0)
            np.minimum(rng, self.max_range_m, out=rng)
            maps = None
            if self.surface is not None:
                cn, ce, cd = self._coarse_rays(axes)
                with np.errstate(divide="ignore"):
                    t = np.where(cd > _MIN_DOWN, max(alt, 0.0) / cd, self.max_range_m)
                t = np.minimum(t, self.max_range_m)
                maps = self._upsample(self._maps_at(self.surface.field, pos[0] + t * cn,
                                                    pos[1] + t * ce))
            return (rng.astype(np.float32), ground,
                    None if maps is None else maps[0], None if maps is None else maps[1])
        cn, ce, cd = self._coarse_rays(axes)
        t = march(hf, pos, cn.ravel(), ce.ravel(), cd.ravel(), self.max_range_m
                  ).reshape(cd.shape)
        far = ~np.isfinite(t) & (cd > 0.0)  # still going down at the range limit: far ground
        t = np.where(far, self.max_range_m, t)
        hit = np.isfinite(t)
        tt = np.where(hit, t, 0.0)
        height = np.where(hit, alt - tt * cd, 0.0)  # up, of the hit
        layers = [height, hit.astype(np.float64)]
        if self.surface is not None:
            layers += list(self._maps_at(self.surface.field, pos[0] + tt * cn,
                                         pos[1] + tt * ce))
        fine = self._upsample(np.stack(layers).astype(np.float32))
        with np.errstate(divide="ignore", invalid="ignore"):
            rng = (np.float32(alt) - fine[0]) / dd
        ground = (fine[1] >= 0.5) & (rng >= 0.0) & np.isfinite(rng)
        rng = np.where(ground, np.minimum(rng, np.float32(self.max_range_m)), np.float32(1.0))
        if self.surface is None:
            return rng, ground, None, None
        return rng, ground, fine[2], fine[3]

    def _coarse_rays(self, axes: F64) -> tuple[F64, F64, F64]:
        ca, cb, cc = self._coarse
        n, e, d = (ca * axes[0, i] + cb * axes[1, i] + cc * axes[2, i] for i in range(3))
        return n, e, d

    def _maps_at(self, hf: HeightField, n: F64, e: F64) -> F32:
        """(albedo, contrast) bilinear on the maps' grid at ground points (n, e)."""
        x = np.clip((n - hf.n0) * hf.inv, 0.0, hf.rows - 1.001)
        y = np.clip((e - hf.e0) * hf.inv, 0.0, hf.cols - 1.001)
        i = x.astype(np.intp)
        j = y.astype(np.intp)
        fx = (x - i)[..., None]
        fy = (y - j)[..., None]
        k = i * hf.cols + j
        v = self._maps
        v00, v01 = v.take(k, axis=0), v.take(k + 1, axis=0)
        k += hf.cols
        v10, v11 = v.take(k, axis=0), v.take(k + 1, axis=0)
        top = v00 + (v01 - v00) * fy
        out = top + (v10 + (v11 - v10) * fy - top) * fx
        return np.moveaxis(out, -1, 0).astype(np.float32)

    def _upsample(self, coarse: F32) -> F32:
        """(layers, coarse rows, coarse cols) -> (layers, height, width), bilinear."""
        m = self.model
        across = _upsample_axis(coarse.astype(np.float32), self.step, m.width, axis=2)
        return _upsample_axis(across, self.step, m.height, axis=1)

    def _ground_colour(self, pos: Vec3, rng: F32, dn: F32, de: F32, dd: F32,
                       albedo: F32 | None, contrast: F32 | None) -> F32:
        tex = self.texture
        period = tex.period_m
        # texture coordinates near the origin of the period: float32 keeps its precision
        gn = rng * dn
        gn += np.float32(pos[0] % period)
        ge = rng * de
        ge += np.float32(pos[1] % period)
        # the pixel's footprint on the ground: range / focal, stretched along the view
        graze = np.maximum(np.abs(dd), np.float32(_MIN_GRAZE))
        foot = rng / (np.float32(self.model.focal_px) * np.sqrt(graze))
        with np.errstate(divide="ignore"):
            level = np.rint(np.log2(np.maximum(foot, 1e-9) / np.float32(tex.texel_m)))
        last = len(tex.levels) - 1
        level = np.clip(level, 0, last).astype(np.int8)
        grey = np.empty(rng.shape, dtype=np.float32)
        for lv in np.unique(level):
            sel = level == lv
            inv = np.float32(1.0 / tex.level_texel_m(int(lv)))
            north = gn[sel] * inv - np.float32(0.5)
            east = ge[sel] * inv - np.float32(0.5)
            grey[sel] = sample_level(tex, int(lv), north, east)
        # brightness: 1 on plain regolith, the fine texture's contrast times the maps'
        grey -= 128.0
        grey *= np.float32(mars_colours.GROUND_CONTRAST / 128.0)
        sand = None
        if contrast is not None:
            grey *= contrast
            sand = np.clip((1.0 - contrast) / np.float32(0.85), 0.0, 1.0)
        grey += 1.0
        if albedo is not None:
            grey *= albedo
        colour = mars_colours.regolith(grey, sand)
        return mars_colours.haze(colour, rng)

    # -- objects -----------------------------------------------------------------------------
    def _pixel_box(self, obj: PlacedObject, pos: Vec3, axes: F64
                   ) -> tuple[int, int, int, int] | None:
        """Rows and columns (r0, r1, c0, c1; ends excluded) holding the object's projection,
        one pixel of margin; the whole picture when part of it is behind the camera; None
        when it is out of the picture."""
        m = self.model
        rel = obj.corners_ned() - np.asarray(pos)
        cam = rel @ axes.T  # camera x, y, z of each corner
        if (cam[:, 2] <= 1e-3).any():
            if (cam[:, 2] <= 1e-3).all():
                return None
            return 0, m.height, 0, m.width
        u = m.width / 2 + m.focal_px * cam[:, 0] / cam[:, 2]
        v = m.height / 2 + m.focal_px * cam[:, 1] / cam[:, 2]
        c0 = max(0, math.floor(u.min() - 0.5) - 1)
        c1 = min(m.width, math.ceil(u.max() - 0.5) + 2)
        r0 = max(0, math.floor(v.min() - 0.5) - 1)
        r1 = min(m.height, math.ceil(v.max() - 0.5) + 2)
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def _draw_object(self, obj: PlacedObject, pos: Vec3, axes: F64, dn: F32, de: F32,
                     dd: F32, depth: F32, colour: F32) -> None:
        box = self._pixel_box(obj, pos, axes)
        if box is None:
            return
        r0, r1, c0, c1 = box
        win = (slice(r0, r1), slice(c0, c1))
        dirs = np.stack([dn[win], de[win], dd[win]], axis=-1).reshape(-1, 3).astype(np.float64)
        t, which, normal = hit_boxes(np.asarray(pos), dirs, obj.boxes)
        t = t.reshape(r1 - r0, c1 - c0)
        near = t < depth[win]
        if not near.any():
            return
        nrm = normal.reshape(r1 - r0, c1 - c0, 3)[near]
        lit = np.maximum(nrm @ self.sun, 0.0)
        shade = AMBIENT + SUNLIT * lit + SKYLIT * np.maximum(-nrm[:, 2], 0.0)
        base = np.array([b.colour for b in obj.boxes], dtype=np.float64)
        paint = base[which.reshape(r1 - r0, c1 - c0)[near]] * shade[:, None]
        paint32 = mars_colours.haze(paint.astype(np.float32), t[near].astype(np.float32))
        colour[win][near] = paint32
        depth[win][near] = t[near]
