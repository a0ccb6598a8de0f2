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
    base = dict(backend="pco", width_px=64, height_px=48, exposure_min_ms=0.1,
                exposure_max_ms=10_000.0)
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
    with PcoCamera(cfg(roi_px=(1, 1, 32, 24), binning=(2, 2), flip_x=True),
                   pco_module=pco) as cam:
        first = [c for c in pco.calls if c[0] == "configuration"][0][1]
        assert first["roi"] == (1, 1, 32, 24) and first["binning"] == (2, 2)
        img = cam.snap().image
        assert img.shape == (12, 16)
        assert img[0, 0] > img[0, -1]  # mirrored left-right
        cam.set_roi(1, 1, 16, 16)
        cam.set_binning(1, 1)
        assert cam.snap().image.shape == (16, 16)


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
