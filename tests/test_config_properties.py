"""Property-based checks over configs: round trips, field-named errors, safe plans."""

from __future__ import annotations

import math
import tomllib

import annotated_types as at
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from uvscope.acquisition.plan import fov_mm, plan_tiles
from uvscope.config import (
    BackgroundConfig,
    FocusPlanConfig,
    RegionConfig,
    RigConfig,
    ScanConfig,
    StageConfig,
    WavelengthConfig,
    dump_toml,
    load_toml,
    parse_model,
)
from uvscope.errors import ConfigError, LimitError

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def regions(draw):
    centre = (draw(st.floats(-50, 200, **finite)), draw(st.floats(-50, 150, **finite)))
    form = draw(st.sampled_from(["corners", "size", "grid"]))
    if form == "corners":
        other = (draw(st.floats(-50, 200, **finite)), draw(st.floats(-50, 150, **finite)))
        return RegionConfig(corners_mm=(centre, other))
    if form == "size":
        return RegionConfig(
            center_mm=centre,
            size_mm=(draw(st.floats(0.01, 5, **finite)), draw(st.floats(0.01, 5, **finite))),
        )
    return RegionConfig(
        center_mm=centre, rows=draw(st.integers(1, 30)), columns=draw(st.integers(1, 30))
    )


@st.composite
def scans(draw):
    nms = draw(st.lists(st.sampled_from([260, 280, 300]), min_size=1, max_size=3, unique=True))
    focus = FocusPlanConfig(
        mode=draw(st.sampled_from(["auto", "fixed", "autofocus-once", "map"])),
        z_um=draw(st.none() | st.floats(0, 10_000, **finite)),
        map_points=draw(st.integers(1, 100) | st.just("auto")),
        surface=draw(st.sampled_from(["plane", "quadratic"])),
        metric=draw(st.sampled_from(["normalised_variance", "brenner", "vollath_f4"])),
        wavelength_nm=draw(st.none() | st.sampled_from(nms)),
        sweep_range_um=draw(st.floats(10, 2000, **finite)),
        fine_range_um=draw(st.floats(0.1, 10, **finite)),
        sweep_steps=draw(st.integers(3, 201)),
        fine_steps=draw(st.integers(3, 201)),
        refocus_threshold=draw(st.floats(0, 0.99, **finite)),
    )
    background = BackgroundConfig(
        frames=draw(st.integers(1, 256)),
        dark_frames=draw(st.integers(0, 256)),
        repeat_every_tiles=draw(st.none() | st.integers(1, 10_000)),
        repeat_every_minutes=draw(st.none() | st.floats(0.01, 600, **finite)),
        drift_threshold_percent=draw(st.floats(0, 100, **finite)),
    )
    return ScanConfig(
        name=draw(st.text("abcdefghij-_ ", min_size=1, max_size=12)),
        region=draw(regions()),
        overlap_percent=draw(st.floats(0, 49.9, **finite)),
        order=draw(st.sampled_from(["serpentine", "raster"])),
        wavelengths=tuple(
            WavelengthConfig(nm=nm, exposure_ms=draw(st.floats(0.1, 5000, **finite))) for nm in nms
        ),
        background=background,
        focus=focus,
        save_raw=draw(st.booleans()),
    )


@SETTINGS
@given(scan=scans())
def test_valid_scan_configs_round_trip_through_toml(tmp_path, scan):
    path = tmp_path / "scan.toml"
    path.write_text(dump_toml(scan), encoding="utf-8")
    assert load_toml(ScanConfig, path) == scan


@SETTINGS
@given(
    x=st.floats(0, 50, **finite),
    width=st.floats(1, 60, **finite),
    v=st.floats(0.1, 250, **finite),
    settle=st.floats(0, 1000, **finite),
)
def test_valid_rig_configs_round_trip_through_toml(x, width, v, settle):
    rig = RigConfig(
        stage=StageConfig(x_limits_mm=(x, x + width), velocity_mm_s=v, settle_ms=settle)
    )
    assert parse_model(RigConfig, tomllib.loads(dump_toml(rig))) == rig


def _bounded_fields(cls: type[BaseModel], prefix: tuple[str, ...] = ()):
    """(path, bound kind, bound) of every numeric field with a declared bound, recursively."""
    out = []
    for name, info in cls.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _bounded_fields(ann, (*prefix, name))
            continue
        for meta in info.metadata:
            for kind in ("gt", "ge", "lt", "le"):
                bound = getattr(meta, kind, None)
                if bound is not None and isinstance(meta, (at.Gt, at.Ge, at.Lt, at.Le)):
                    out.append(((*prefix, name), kind, bound))
    return out


BOUNDED = [(cls, *f) for cls in (ScanConfig, RigConfig) for f in _bounded_fields(cls)]


def _nest(path: tuple[str, ...], value: object) -> dict:
    data: object = value
    for key in reversed(path):
        data = {key: data}
    return data  # type: ignore[return-value]


@pytest.mark.parametrize("value", [0, 101, -3, "seven", 2.5])
def test_map_points_outside_1_to_100_or_auto_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="focus.map_points"):
        parse_model(ScanConfig, {"focus": {"map_points": value}})


def test_every_bounded_field_is_covered():
    paths = {".".join(p) for _, p, _, _ in BOUNDED}
    for must in (
        "overlap_percent",
        "focus.sweep_steps",
        "focus.refocus_threshold",
        "background.repeat_every_tiles",
        "background.drift_threshold_percent",
        "stage.velocity_mm_s",
        "camera.pixel_size_um",
        "focus.velocity_um_s",
    ):
        assert must in paths


@SETTINGS
@given(case=st.sampled_from(BOUNDED), data=st.data())
def test_out_of_range_values_give_a_config_error_naming_the_field(case, data):
    cls, path, kind, bound = case
    step = data.draw(st.floats(1e-3, 1e6, **finite))
    if kind in ("gt", "ge"):
        bad = bound - step if kind == "ge" else bound - step * data.draw(st.sampled_from([0, 1]))
    else:
        bad = bound + step if kind == "le" else bound + step * data.draw(st.sampled_from([0, 1]))
    if isinstance(bound, int) and not isinstance(bound, bool):
        bad = math.floor(bad) if kind in ("gt", "ge") else math.ceil(bad)
    with pytest.raises(ConfigError) as info:
        parse_model(cls, _nest(path, bad))
    assert ".".join(path) in str(info.value)


@SETTINGS
@given(case=st.sampled_from(BOUNDED), junk=st.sampled_from(["fast", [1, 2], {"a": 1}]))
def test_wrong_types_give_a_config_error_naming_the_field(case, junk):
    cls, path, _, _ = case
    with pytest.raises(ConfigError) as info:
        parse_model(cls, _nest(path, junk))
    assert ".".join(path) in str(info.value)


@SETTINGS
@given(field=st.sampled_from(["mode", "surface", "metric"]), junk=st.text(max_size=8))
def test_unknown_focus_choices_name_the_field(field, junk):
    if junk in (
        "fixed",
        "autofocus-once",
        "map",
        "plane",
        "quadratic",
        "normalised_variance",
        "brenner",
        "vollath_f4",
    ):
        return
    with pytest.raises(ConfigError, match=f"focus.{field}"):
        parse_model(ScanConfig, {"focus": {field: junk}})


@SETTINGS
@given(region=regions(), overlap=st.floats(0, 49, **finite))
def test_random_regions_plan_inside_the_soft_limits_or_are_refused(region, overlap):
    scan = ScanConfig(region=region, overlap_percent=overlap)
    stage = StageConfig()
    try:
        plan = plan_tiles(scan, fov_mm(128, 96, 0.5), stage, max_tiles=50_000)
    except LimitError as err:
        assert "limits" in str(err) and "Nothing was moved" in str(err) or "tiles" in str(err)
        return
    (x0, x1), (y0, y1) = stage.x_limits_mm, stage.y_limits_mm
    assert all(x0 <= t.x_mm <= x1 and y0 <= t.y_mm <= y1 for t in plan.tiles)
