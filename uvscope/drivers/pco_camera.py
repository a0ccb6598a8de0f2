"""PCO cameras (pco.ultraviolet) through the ``pco`` package, kept thin.

``pco`` is imported only when a PCO camera is connected, so machines without it (CI, sim-only
users) never need it. Its two common start-up failures get messages that say what to do:
libusb missing (``OSError``) and no camera found (``pco.camera_exception.CameraException``).
A snap records one image in "sequence non blocking" mode; live view records into a ring buffer
and ``stream_latest`` returns the newest image it has not returned yet.

At connect the sensor size and bit depth the camera reports are checked against the rig file,
and binning, pixel rate and trigger mode against what the camera lists. The SDK takes the ROI
in binned pixels, so the default ROI is the whole binned sensor; after every ROI or binning
change the image geometry (``width_px``, ``height_px``, ``pixel_size_um``) is read back from
the camera, and the scan plans its tiles from it.
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any

import numpy as np

from uvscope.config import CameraConfig
from uvscope.drivers.base import Camera, DeviceInfo, Frame, FrameMeta
from uvscope.errors import ConfigError, DeviceError, DeviceNotFound, DeviceTimeout

LATEST_IMAGE = 0xFFFFFFFF  # PCO_RECORDER_LATEST_IMAGE

LIBUSB_HINT = (
    "the PCO SDK needs the system library libusb-1.0: install it (Debian/Ubuntu: "
    "sudo apt install libusb-1.0-0) and add a udev rule giving your user access to USB vendor "
    '0x1cb2, e.g. SUBSYSTEM=="usb", ATTR{idVendor}=="1cb2", MODE="0666"'
)


def _import_pco() -> ModuleType:
    try:
        pco = importlib.import_module("pco")  # optional: typed as a module, not Any
    except ImportError:
        raise DeviceNotFound(
            "the pco package is not installed: pip install 'uvscope[pco]' (or pip install pco)"
        ) from None
    except OSError as err:  # the SDK's shared libraries load at import on some versions
        raise DeviceNotFound(f"the pco SDK could not load ({err}); {LIBUSB_HINT}") from None
    return pco


def _camera_exception(pco: ModuleType) -> type[BaseException]:
    exc = getattr(getattr(pco, "camera_exception", None), "CameraException", None)
    return exc if isinstance(exc, type) else ValueError  # CameraException is a ValueError


class PcoCamera(Camera):
    """A PCO camera; ``pco_module`` replaces ``import pco`` (tests use a fake)."""

    #: one frame in flight: record() holds the camera until its image is read
    max_pending_frames = 1

    def __init__(self, config: CameraConfig, *, pco_module: ModuleType | None = None) -> None:
        super().__init__(
            config.width_px,
            config.height_px,
            config.bit_depth,
            (config.exposure_min_ms, config.exposure_max_ms),
        )
        self.config = config
        self._pco = pco_module
        self._cam: Any = None
        self._index = 0
        self._triggered_at: float | None = None
        self._streaming = False
        self._last_stream_image: int | None = None
        self.pixel_size_um = config.pixel_size_um * config.binning[0]

    # ------------------------------------------------------------------ lifecycle
    def _do_connect(self) -> None:
        if self._cam is not None:
            return
        pco = self._pco or _import_pco()
        kwargs: dict[str, Any] = {"interface": self.config.interface}
        if self.config.serial_number is not None:
            kwargs["serial"] = self.config.serial_number
        which = f"interface {self.config.interface!r}" + (
            f", serial {self.config.serial_number}" if self.config.serial_number else ""
        )
        try:
            cam = pco.Camera(**kwargs)
        except OSError as err:
            if "libusb" in str(err):
                raise DeviceNotFound(
                    f"PCO camera ({which}): libusb-1.0 is missing; {LIBUSB_HINT}"
                ) from None
            raise DeviceNotFound(f"PCO camera ({which}): the SDK failed to load: {err}") from None
        except _camera_exception(pco) as err:
            raise DeviceNotFound(
                f"no PCO camera found ({which}): {err}. Check the USB cable and the camera's "
                "power, that camware or another program does not hold it, and the udev rule "
                "for USB vendor 0x1cb2"
            ) from None
        self._cam = cam
        try:
            self._configure()
        except BaseException:
            self._do_close()
            raise

    def _configure(self) -> None:
        desc = self._cam.description
        self._check_description(desc)
        lo = max(self.exposure_range_ms[0], float(desc["min exposure time"]) * 1000.0)
        hi = min(self.exposure_range_ms[1], float(desc["max exposure time"]) * 1000.0)
        self.exposure_range_ms = (lo, hi)
        self._exposure_ms = min(max(self._exposure_ms, lo), hi)
        bx, by = self.config.binning
        settings: dict[str, Any] = {
            "exposure time": self._exposure_ms / 1000.0,
            "trigger": self.config.trigger_mode,
            "binning": (bx, by),
            "roi": tuple(self.config.roi_px or full_roi(desc, bx, by)),
        }
        if self.config.pixel_rate_hz is not None:
            settings["pixel rate"] = self.config.pixel_rate_hz
        self.set_configuration(settings)

    def _check_description(self, desc: dict[str, Any]) -> None:
        """The rig file against what the camera says it is; ConfigError naming the field."""
        c = self.config
        problems = []
        sensor = (int(desc["max width"]), int(desc["max height"]))
        if sensor != (c.width_px, c.height_px):
            problems.append(
                f"its sensor is {sensor[0]} x {sensor[1]} px but camera.width_px, "
                f"height_px are {c.width_px}, {c.height_px}"
            )
        bits = desc.get("bit resolution")
        if bits is not None and int(bits) != c.bit_depth:
            problems.append(f"it digitises {bits} bit but camera.bit_depth is {c.bit_depth}")
        for axis, b, key in (
            ("x", c.binning[0], "binning horz vec"),
            ("y", c.binning[1], "binning vert vec"),
        ):
            if key in desc and b not in desc[key]:
                problems.append(f"binning {b} in {axis} is not one of its {list(desc[key])}")
        rates = desc.get("pixelrates")
        if c.pixel_rate_hz is not None and rates and c.pixel_rate_hz not in rates:
            problems.append(
                f"camera.pixel_rate_hz {c.pixel_rate_hz} is not one of its "
                f"pixel rates {list(rates)}"
            )
        if problems:
            raise ConfigError(
                f"PCO camera {self._cam.camera_name}: " + "; ".join(problems) + "; fix the rig file"
            )

    def _read_geometry(self) -> None:
        """Image size and pixel size as the camera now has them (ROI in binned pixels)."""
        conf = self._cam.configuration
        x0, y0, x1, y1 = conf["roi"]
        bx, by = conf["binning"][:2]
        if bx != by:
            raise ConfigError(f"PCO camera binning {bx} x {by}: the scan needs square pixels")
        self.width_px, self.height_px = x1 - x0 + 1, y1 - y0 + 1
        self.pixel_size_um = self.config.pixel_size_um * bx

    def _do_close(self) -> None:
        cam, self._cam = self._cam, None
        self._streaming = False
        self._triggered_at = None
        if cam is None:
            return
        try:
            if cam.is_recording:
                cam.stop()
        finally:
            cam.close()

    def _do_info(self) -> DeviceInfo:
        cam = self._require()
        return DeviceInfo(
            kind=self.kind,
            model=str(cam.camera_name),
            serial=str(cam.camera_serial),
            extra={
                "interface": cam.interface,
                "exposure_range_ms": self.exposure_range_ms,
                "roi": cam.configuration.get("roi"),
                "binning": self.config.binning,
            },
        )

    def _require(self) -> Any:
        if self._cam is None:
            raise DeviceError("PCO camera is not connected; call connect() first")
        return self._cam

    # ------------------------------------------------------------------ settings
    def set_configuration(self, settings: dict[str, Any]) -> None:
        """Apply pco ``configuration`` keys (stops live view around it: pco refuses while
        recording)."""
        cam = self._require()
        live = self._streaming
        if live:
            self.stop_stream()
        try:
            cam.configuration = settings
        except KeyError as err:
            raise DeviceError(f"PCO camera: unknown setting {err}") from None
        except ValueError as err:
            raise DeviceError(f"PCO camera refused {settings}: {err}") from None
        finally:
            self._read_geometry()
        if live:
            self.start_stream()

    def set_roi(self, x0: int, y0: int, x1: int, y1: int) -> None:
        """Sensor region in binned pixels (the SDK's rule), 1-based inclusive corners."""
        self.set_configuration({"roi": (x0, y0, x1, y1)})

    def set_binning(self, bx: int, by: int) -> None:
        """Binning, with the ROI reset to the whole binned sensor (pco needs both at once)."""
        desc = self._require().description
        self.set_configuration({"binning": (bx, by), "roi": full_roi(desc, bx, by)})

    def _do_set_exposure_ms(self, exposure_ms: float) -> None:
        self.set_configuration({"exposure time": exposure_ms / 1000.0})

    # ------------------------------------------------------------------ snap
    def _do_trigger(self) -> None:
        cam = self._require()
        if self._streaming:
            raise DeviceError("PCO camera is in live view; stop_stream() before snapping")
        if self._triggered_at is not None:
            raise DeviceError("PCO camera: read the last frame before triggering again")
        cam.record(1, mode="sequence non blocking")
        self._triggered_at = time.monotonic()
        time.sleep(self._exposure_ms / 1000.0)  # light collection is over after the exposure

    def _do_read(self, timeout_s: float) -> Frame:
        cam = self._require()
        if self._triggered_at is None:
            raise DeviceError("PCO camera: read without a trigger")
        t0, self._triggered_at = self._triggered_at, None
        try:
            cam.wait_for_first_image(delay=True, timeout=timeout_s)
            image, meta = cam.image(0)
        except TimeoutError:
            raise DeviceTimeout(f"PCO camera: no image within {timeout_s:.1f} s") from None
        finally:
            cam.stop()
        return self._frame(image, meta, t0)

    def _frame(self, image: np.ndarray, meta: dict[str, Any], t0: float) -> Frame:
        img = np.asarray(image)
        if self.config.flip_x:
            img = img[:, ::-1]
        if self.config.flip_y:
            img = img[::-1, :]
        self._index += 1
        extra: dict[str, Any] = {
            k: meta[k] for k in ("recorder image number", "timestamp", "data format") if k in meta
        }
        return Frame(
            np.ascontiguousarray(img, dtype=np.uint16),
            FrameMeta(self._exposure_ms, t0, self._index, extra),
        )

    # ------------------------------------------------------------------ live view
    def start_stream(self, buffer_frames: int = 4) -> None:
        """Record continuously into a ring buffer of ``buffer_frames`` images."""
        cam = self._require()
        if self._streaming:
            return
        cam.record(buffer_frames, mode="ring buffer")
        self._streaming = True
        self._last_stream_image = None

    def stream_latest(self, timeout_s: float = 2.0) -> Frame:
        """The newest image of the live stream that was not returned before (older ones are
        skipped: live view may drop); polled faster than the frame rate, it waits."""
        cam = self._require()
        if not self._streaming:
            raise DeviceError("PCO camera: start_stream() before stream_latest()")
        deadline = time.monotonic() + timeout_s
        try:
            cam.wait_for_first_image(delay=True, timeout=timeout_s)
        except TimeoutError:
            raise DeviceTimeout(f"PCO camera: no live image within {timeout_s:.1f} s") from None
        while True:
            image, meta = cam.image(LATEST_IMAGE)
            number = meta.get("recorder image number")
            if number is None or number != self._last_stream_image:
                self._last_stream_image = number
                return self._frame(image, meta, time.monotonic())
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"PCO camera: no new live image within {timeout_s:.1f} s")
            time.sleep(0.002)

    def stop_stream(self) -> None:
        if self._streaming:
            self._streaming = False
            self._require().stop()


def full_roi(desc: dict[str, Any], bx: int, by: int) -> tuple[int, int, int, int]:
    """The whole sensor at binning ``bx`` x ``by``, in binned pixels (what the SDK takes)."""
    return (1, 1, int(desc["max width"]) // bx, int(desc["max height"]) // by)
