"""The PCO driver against a fake ``pco`` module (CI has no camera)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.drivers.fake_pco import make_module
from uvscope.config import CameraConfig
from uvscope.drivers.pco_camera import PcoCamera
from uvscope.errors import ConfigError, DeviceError, DeviceNotFound


def cfg(**kw) -> CameraConfig:
    base = dict(
        backend="pco", width_px=64, height_px=48, exposure_min_ms=0.1, exposure_max_ms=10_000.0
    )
    base.update(kw)
    return CameraConfig(**base)


def test_open_configures_and_snaps():
    pco = make_module()
    with PcoCamera(cfg(serial_number=12345), pco_module=pco) as cam:
        assert pco.calls[0] == ("Camera", "USB 2.0", 12345)
        # exposure range: the config's range cut to the camera's (2 s max)
        assert cam.exposure_range_ms == (0.1, 2000.0)
        cam.set_exposure_ms(30.0)
        frame = cam.snap()
        assert frame.image.dtype == np.uint16 and frame.image.shape == (48, 64)
        assert frame.meta.exposure_ms == 30.0 and frame.meta.frame_index == 1
        assert frame.meta.extra["recorder image number"] == 1
        assert ("record", 1, "sequence non blocking") in pco.calls
        assert pco.calls[-1] == ("stop",)
        assert cam.info().model == "pco.ultraviolet" and cam.info().serial == "12345"
        with pytest.raises(ConfigError):
            cam.set_exposure_ms(5000.0)
    assert pco.calls[-1] == ("close",)


def test_roi_binning_and_flip():
    pco = make_module()
    with PcoCamera(cfg(roi_px=(1, 1, 32, 24), binning=(2, 2), flip_x=True), pco_module=pco) as cam:
        first = [c for c in pco.calls if c[0] == "configuration"][0][1]
        assert first["roi"] == (1, 1, 32, 24) and first["binning"] == (2, 2)
        img = cam.snap().image
        assert img.shape == (24, 32)  # the ROI is in binned pixels: the whole binned sensor
        assert (cam.width_px, cam.height_px, cam.pixel_size_um) == (32, 24, 0.32)
        assert img[0, 0] > img[0, -1]  # mirrored left-right
        cam.set_roi(1, 1, 16, 16)
        assert cam.snap().image.shape == (16, 16) and cam.width_px == 16
        cam.set_binning(1, 1)  # the ROI goes back to the whole (unbinned) sensor with it
        assert cam.snap().image.shape == (48, 64) and cam.pixel_size_um == pytest.approx(0.16)


def test_binning_without_roi_asks_for_the_whole_binned_sensor():
    pco = make_module()
    with PcoCamera(cfg(binning=(2, 2)), pco_module=pco) as cam:
        first = [c for c in pco.calls if c[0] == "configuration"][0][1]
        assert first["roi"] == (1, 1, 32, 24)
        assert cam.snap().image.shape == (24, 32)


def test_the_fake_refuses_an_unbinned_roi_with_binning_as_the_sdk_does():
    cam = PcoCamera(cfg(roi_px=(1, 1, 64, 48), binning=(2, 2)), pco_module=make_module())
    with pytest.raises(DeviceError, match="outside the binned sensor 32 x 24"):
        cam.connect()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"width_px": 1392, "height_px": 1040}, "sensor is 64 x 48 px but camera.width_px"),
        ({"bit_depth": 16}, "digitises 14 bit but camera.bit_depth is 16"),
        ({"binning": (3, 3)}, "binning 3 in x is not one of its"),
        ({"pixel_rate_hz": 10_000_000}, "pixel_rate_hz 10000000 is not one of its"),
    ],
)
def test_connect_checks_the_rig_file_against_the_camera(change, message):
    cam = PcoCamera(cfg(**change), pco_module=make_module())
    with pytest.raises(ConfigError, match=message):
        cam.connect()


def test_trigger_mode_and_pixel_rate_from_the_rig_file():
    pco = make_module()
    config = cfg(trigger_mode="software trigger", pixel_rate_hz=24_000_000)
    with PcoCamera(config, pco_module=pco):
        first = [c for c in pco.calls if c[0] == "configuration"][0][1]
        assert first["trigger"] == "software trigger" and first["pixel rate"] == 24_000_000


def test_stream_latest_returns_only_new_frames():
    pco = make_module(frame_period_s=0.02)
    with PcoCamera(cfg(), pco_module=pco) as cam:
        cam.start_stream()
        numbers = [cam.stream_latest().meta.extra["recorder image number"] for _ in range(5)]
        assert numbers == sorted(set(numbers))  # polled back to back: never the same frame


def test_live_view_ring_buffer():
    pco = make_module()
    with PcoCamera(cfg(), pco_module=pco) as cam:
        cam.start_stream(buffer_frames=4)
        assert ("record", 4, "ring buffer") in pco.calls
        f = cam.stream_latest()
        assert pco.calls[-1] == ("image", 0xFFFFFFFF)
        assert f.image.shape == (48, 64)
        n = len(pco.calls)
        cam.set_exposure_ms(20.0)  # pco refuses settings while recording: stop, set, restart
        assert [c[0] for c in pco.calls[n:]] == ["stop", "configuration", "record"]
        with pytest.raises(DeviceError, match="live view"):
            cam.trigger()
        cam.stop_stream()
        cam.snap()


def test_missing_libusb_says_what_to_install():
    cam = PcoCamera(cfg(), pco_module=make_module(failure="libusb"))
    with pytest.raises(DeviceNotFound, match="libusb-1.0-0") as info:
        cam.connect()
    assert "0x1cb2" in str(info.value)


def test_no_camera_says_what_to_check():
    cam = PcoCamera(cfg(), pco_module=make_module(failure="no_camera"))
    with pytest.raises(DeviceNotFound, match="no PCO camera found.*USB 2.0"):
        cam.connect()


def test_pco_is_imported_lazily(monkeypatch):
    fake = make_module()
    monkeypatch.setitem(sys.modules, "pco", fake)
    with PcoCamera(cfg()) as cam:
        cam.snap()
    assert fake.calls[0][0] == "Camera"


def test_pco_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pco", None)  # import pco -> ImportError
    with pytest.raises(DeviceNotFound, match="pip install"):
        PcoCamera(cfg()).connect()


def test_read_without_trigger_and_double_trigger():
    with PcoCamera(cfg(), pco_module=make_module()) as cam:
        with pytest.raises(DeviceError, match="without a trigger"):
            cam.read()
        cam.trigger()
        with pytest.raises(DeviceError, match="read the last frame"):
            cam.trigger()
        cam.read()
