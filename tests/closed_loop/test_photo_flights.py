"""Flight 54 as shipped (nominal_flight54: a hop to 5 m, a shot on the climb facing north, a
turn in place to Perseverance 60 m away, the arrival shot): the photos, their records in the
log, their geotags, and the rover where the camera model puts it from the logged pose."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pyulog import ULog

from app.boot import prepare
from app.photo_writer import GPS_LAT, GPS_LON, IFD_GPS
from app.session import FlightResult, fly
from firmware import log_topics as lt
from firmware.config import load_scenario
from hal.photo_geometry import PhotoCameraModel, project
from sim_hal.scene_objects import PlacedObject, place_objects
from sim_hal.world_settings import build_world_parts, load_world_settings
from tests.conftest import SCENARIOS
from tests.photo_find import found_box, grey_mask, projected_box

SCENARIO = SCENARIOS / "nominal_flight54.toml"
SEED = 1
# how far the found rover may lie outside its projected outline: "a few pixels" (JPEG's
# halved colour resolution blurs its edges by about one)
MARGIN_PX = 3.0


@pytest.fixture(scope="module")
def flight(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlightResult, ULog, Path]:
    log = tmp_path_factory.mktemp("photos") / "flight54.ulg"
    result = fly(prepare(None, SCENARIO, SEED), log_path=log)
    return result, ULog(str(log)), log


@pytest.fixture(scope="module")
def rover() -> tuple[PlacedObject, Any]:
    sc = load_scenario(SCENARIO)
    ws = load_world_settings(sc.world_raw, sc.path)
    parts = build_world_parts(ws, SEED, 0)
    (placed,) = place_objects(ws.objects, parts.terrain)
    return placed, parts.terrain


def photo_rows(u: ULog) -> list[dict[str, Any]]:
    d = u.get_dataset("photo").data
    return [{k: v[i] for k, v in d.items()} for i in range(len(d["seq"]))]


def model_of(row: dict[str, Any]) -> PhotoCameraModel:
    return PhotoCameraModel(int(row["width"]), int(row["height"]), float(row["focal_px"]),
                            float(row["mount_pitch_deg"]))


def logged_camera(row: dict[str, Any], terrain: Any) -> tuple[tuple[float, float, float],
                                                               list[float]]:
    """The camera's place and the body attitude from the logged estimate: north and east,
    and its height above the ground set on the world's terrain there (the estimate's
    vertical is height above ground, as a map tool would use it with a height map)."""
    n, e = float(row["position[0]"]), float(row["position[1]"])
    down = -terrain.height(n, e) - float(row["height_agl_m"])
    return (n, e, down), [float(row[f"q[{k}]"]) for k in range(4)]


def test_the_flight_takes_its_two_photos_and_lands_with_no_land_now(flight: Any) -> None:
    result, u, _ = flight
    s = result.summary
    assert s.land_now_reason is None and s.safe_landing
    assert s.photos["written"] == 2 and s.photos["failed"] == s.photos["dropped"] == 0
    rows = photo_rows(u)
    assert [lt.PHOTO_REASONS[int(r["reason"])] for r in rows] == ["time", "arrival"]
    assert all(int(r["result"]) == 1 for r in rows)
    assert rows[0]["timestamp"] == pytest.approx(12.0e6 + 30_000 + 1_000, abs=2_000)


def test_the_rover_is_where_the_logged_pose_projects_it(flight: Any, rover: Any) -> None:
    _, u, log = flight
    placed, terrain = rover
    row = photo_rows(u)[1]  # the arrival shot, facing the rover
    img = np.asarray(Image.open(lt.photo_file(str(log), int(row["seq"]))).convert("RGB"))
    found = found_box(img)
    assert found is not None, "no rover in the photo"
    model = model_of(row)
    cam, q = logged_camera(row, terrain)
    expected = projected_box(placed.corners_ned(), cam, q, model)
    # every rover pixel found lies within its projected outline, give or take a few pixels
    assert found[0] >= expected[0] - MARGIN_PX and found[1] <= expected[1] + MARGIN_PX
    assert found[2] >= expected[2] - MARGIN_PX and found[3] <= expected[3] + MARGIN_PX
    # and it is the rover, not a speck: most of the outline's width
    assert found[1] - found[0] > 0.6 * (expected[1] - expected[0])
    # from the true pose at the true mid-exposure the same holds more tightly (the renderer
    # and the stamps; the estimate's attitude error is what the margin above allows for)
    truth_cam = [float(row[f"truth_position[{k}]"]) for k in range(3)]
    truth_q = [float(row[f"truth_q[{k}]"]) for k in range(4)]
    exact = projected_box(placed.corners_ned(), truth_cam, truth_q, model)
    assert found[0] >= exact[0] - 1.5 and found[1] <= exact[1] + 1.5
    assert found[2] >= exact[2] - 1.5 and found[3] <= exact[3] + 1.5


def test_the_shot_facing_away_has_no_rover_where_the_pose_says_it_is_out_of_view(
        flight: Any, rover: Any) -> None:
    _, u, log = flight
    placed, terrain = rover
    row = photo_rows(u)[0]  # on the climb, facing north; the rover is 48 deg to the east
    model = model_of(row)
    cam, q = logged_camera(row, terrain)
    uv = project(placed.centre_ned(), cam, q, model)
    assert uv is None or not (0 <= uv[0] < model.width and 0 <= uv[1] < model.height)
    img = np.asarray(Image.open(lt.photo_file(str(log), int(row["seq"]))).convert("RGB"))
    assert not grey_mask(img).any()


def test_camera_capture_and_the_exif_carry_the_same_geotag(flight: Any) -> None:
    _, u, log = flight
    cc = u.get_dataset("camera_capture").data
    rows = photo_rows(u)
    np.testing.assert_array_equal(cc["seq"], [r["seq"] for r in rows])
    np.testing.assert_array_equal(cc["timestamp"], [r["timestamp"] for r in rows])
    for i, r in enumerate(rows):
        gps = Image.open(lt.photo_file(str(log), int(r["seq"]))).getexif().get_ifd(IFD_GPS)
        lat = sum(float(x) / 60**k for k, x in enumerate(gps[GPS_LAT]))
        lon = sum(float(x) / 60**k for k, x in enumerate(gps[GPS_LON]))
        assert lat == pytest.approx(cc["lat"][i], abs=1e-7)
        assert lon == pytest.approx(cc["lon"][i], abs=1e-7)
        # a few decimetres from the take-off point, near Jezero's Wright Brothers Field
        assert math.hypot(lat - 18.4447, lon - 77.4508) < 1e-4
        assert cc["ground_distance"][i] == pytest.approx(float(r["height_agl_m"]))
        assert int(cc["result"][i]) == 1
