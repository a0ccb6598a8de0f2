"""A fake of the ``pco`` package's documented surface (hardware.md; pco 2.6 camera.py).

It reproduces what the driver relies on, including the failures: OSError when libusb is
missing, CameraException (a ValueError) when no camera answers, KeyError for an unknown
configuration key and ValueError when configuring while recording. It enforces the SDK's
rules the way pco 2.6 applies a configuration (ROI set before binning, both checked when the
camera is armed): the ROI is in binned pixels, inside the binned sensor, on the ROI steps;
binning, pixel rate and trigger mode must be ones the camera lists. In ring-buffer mode a new
image arrives every frame period, so polling faster than that sees the same image number.
"""

from __future__ import annotations

import time
import types

import numpy as np

TRIGGER_MODES = (
    "auto sequence",
    "software trigger",
    "external exposure start & software trigger",
    "external exposure control",
)
PIXEL_RATES = (12_000_000, 24_000_000)


class CameraException(ValueError):
    pass


VALID_KEYS = {
    "exposure time",
    "delay time",
    "roi",
    "timestamp",
    "pixel rate",
    "trigger",
    "acquire",
    "noise filter",
    "metadata",
    "binning",
    "auto exposure",
}


class FakeCamera:
    """pco.Camera; ``make_module`` subclasses it with the camera it stands for."""

    CALLS: list[tuple] = []
    FAILURE: str | None = None
    WIDTH, HEIGHT, BITS, FRAME_PERIOD_S = 64, 48, 14, 0.02

    def __init__(self, name: str = "", interface=None, serial=None):
        self.CALLS.append(("Camera", interface, serial))
        if self.FAILURE == "libusb":
            raise OSError(
                "libusb-1.0.so.0: cannot open shared object file: No such file or directory"
            )
        if self.FAILURE == "no_camera":
            raise CameraException("CameraException 0x80002001: No camera found")
        self._conf = {
            "exposure time": 0.01,
            "roi": (1, 1, self.WIDTH, self.HEIGHT),
            "binning": (1, 1, "additive"),
            "trigger": "auto sequence",
            "pixel rate": PIXEL_RATES[0],
        }
        self._t_record = 0.0
        self._recording = False
        self._mode = None
        self._count = 0
        self.closed = False
        self.calls = self.CALLS

    camera_name = "pco.ultraviolet"
    camera_serial = 12345
    interface = "USB 2.0"

    @property
    def description(self):
        return {
            "min exposure time": 1e-5,
            "max exposure time": 2.0,
            "max width": self.WIDTH,
            "max height": self.HEIGHT,
            "roi steps": (1, 1),
            "bit resolution": self.BITS,
            "pixelrates": list(PIXEL_RATES),
            "binning horz vec": [1, 2, 4],
            "binning vert vec": [1, 2, 4],
        }

    @property
    def configuration(self):
        return dict(self._conf)

    @configuration.setter
    def configuration(self, arg):
        for k in arg:
            if k not in VALID_KEYS:
                raise KeyError(f"<{k}> is not a valid key for pco.Camera.configuration.")
        if self._recording:
            raise ValueError
        self.CALLS.append(("configuration", dict(arg)))
        new = {**self._conf, **arg}
        if "binning" in arg and len(arg["binning"]) == 2:
            new["binning"] = (*arg["binning"], "additive")
        self._check(new)
        self._conf = new

    def _check(self, conf):
        """The SDK's refusals (pco raises them from sdk calls as CameraException)."""
        bx, by = conf["binning"][:2]
        if bx not in self.description["binning horz vec"] or (
            by not in self.description["binning vert vec"]
        ):
            raise CameraException(f"binning {bx} x {by} is not supported")
        x0, y0, x1, y1 = conf["roi"]
        sx, sy = self.description["roi steps"]
        if not (1 <= x0 <= x1 <= self.WIDTH // bx and 1 <= y0 <= y1 <= self.HEIGHT // by):
            raise CameraException(
                f"CameraException 0xa00a3001: roi {conf['roi']} outside the binned sensor "
                f"{self.WIDTH // bx} x {self.HEIGHT // by}"
            )
        if (x0 - 1) % sx or x1 % sx or (y0 - 1) % sy or y1 % sy:
            raise CameraException(f"roi {conf['roi']} is not on the roi steps {sx, sy}")
        if conf["trigger"] not in TRIGGER_MODES:
            raise CameraException(f"trigger mode {conf['trigger']!r} not supported")
        if conf["pixel rate"] not in PIXEL_RATES:
            raise CameraException(f"pixel rate {conf['pixel rate']} not supported")

    @property
    def exposure_time(self):
        return self._conf["exposure time"]

    @property
    def is_recording(self):
        return self._recording

    def record(self, number_of_images=1, mode="sequence", file_path=None):
        self.CALLS.append(("record", number_of_images, mode))
        self._recording = True
        self._mode = mode
        self._t_record = time.monotonic()
        if mode != "ring buffer":
            self._count += 1

    def _ring_images(self):
        return int((time.monotonic() - self._t_record) / self.FRAME_PERIOD_S)

    def wait_for_first_image(self, delay=True, timeout=None):
        if not self._recording:
            raise TimeoutError(f"Timeout ({timeout} s) reached, no image acquired")
        while self._mode == "ring buffer" and self._ring_images() < 1:
            time.sleep(self.FRAME_PERIOD_S / 10)

    def image(self, image_index=0, crop=None, data_format="Mono16"):
        self.CALLS.append(("image", image_index))
        x0, y0, x1, y1 = self._conf["roi"]
        bx, by = self._conf["binning"][:2]
        h, w = y1 - y0 + 1, x1 - x0 + 1  # the ROI is in binned pixels
        number = self._ring_images() if self._mode == "ring buffer" else self._count
        img = np.arange(h * w, dtype=np.uint16).reshape(h, w) + number
        return img, {
            "data format": "Mono16",
            "recorder image number": number,
            "timestamp": {"image counter": number},
        }

    def stop(self):
        self.CALLS.append(("stop",))
        self._recording = False

    def close(self):
        self.CALLS.append(("close",))
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_module(
    *,
    failure: str | None = None,
    width: int = 64,
    height: int = 48,
    bit_resolution: int = 14,
    frame_period_s: float = 0.02,
):
    """A module object standing in for ``pco``; ``failure``: "libusb" or "no_camera"."""
    calls: list[tuple] = []
    Camera = type(
        "Camera",
        (FakeCamera,),
        {
            "CALLS": calls,
            "FAILURE": failure,
            "WIDTH": width,
            "HEIGHT": height,
            "BITS": bit_resolution,
            "FRAME_PERIOD_S": frame_period_s,
        },
    )

    mod = types.ModuleType("pco")
    mod.Camera = Camera
    mod.camera_exception = types.SimpleNamespace(CameraException=CameraException)
    mod.calls = calls
    return mod
