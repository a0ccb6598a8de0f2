"""A fake of the ``pco`` package's documented surface (hardware.md; pco 2.x camera.py).

It reproduces what the driver relies on, including the failures: OSError when libusb is
missing, CameraException (a ValueError) when no camera answers, KeyError for an unknown
configuration key and ValueError when configuring while recording.
"""

from __future__ import annotations

import types

import numpy as np


class CameraException(ValueError):
    pass


VALID_KEYS = {"exposure time", "delay time", "roi", "timestamp", "pixel rate", "trigger",
              "acquire", "noise filter", "metadata", "binning", "auto exposure"}


def make_module(*, failure: str | None = None, width: int = 64, height: int = 48):
    """A module object standing in for ``pco``; ``failure``: "libusb" or "no_camera"."""
    calls: list[tuple] = []

    class Camera:
        def __init__(self, name: str = "", interface=None, serial=None):
            calls.append(("Camera", interface, serial))
            if failure == "libusb":
                raise OSError("libusb-1.0.so.0: cannot open shared object file: "
                              "No such file or directory")
            if failure == "no_camera":
                raise CameraException("CameraException 0x80002001: No camera found")
            self._conf = {"exposure time": 0.01, "roi": (1, 1, width, height),
                          "binning": (1, 1, "additive"), "trigger": "auto sequence"}
            self._recording = False
            self._mode = None
            self._count = 0
            self.closed = False
            self.calls = calls

        camera_name = "pco.ultraviolet"
        camera_serial = 12345
        interface = "USB 2.0"

        @property
        def description(self):
            return {"min exposure time": 1e-5, "max exposure time": 2.0,
                    "max width": width, "max height": height, "roi steps": (1, 1)}

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
            calls.append(("configuration", dict(arg)))
            self._conf.update(arg)

        @property
        def exposure_time(self):
            return self._conf["exposure time"]

        @property
        def is_recording(self):
            return self._recording

        def record(self, number_of_images=1, mode="sequence", file_path=None):
            calls.append(("record", number_of_images, mode))
            self._recording = True
            self._mode = mode
            self._count += 1

        def wait_for_first_image(self, delay=True, timeout=None):
            if not self._recording:
                raise TimeoutError(f"Timeout ({timeout} s) reached, no image acquired")

        def image(self, image_index=0, crop=None, data_format="Mono16"):
            calls.append(("image", image_index))
            x0, y0, x1, y1 = self._conf["roi"]
            bx, by = self._conf["binning"][:2]
            h, w = (y1 - y0 + 1) // by, (x1 - x0 + 1) // bx
            img = (np.arange(h * w, dtype=np.uint16).reshape(h, w) + self._count)
            return img, {"data format": "Mono16", "recorder image number": self._count,
                         "timestamp": {"image counter": self._count}}

        def stop(self):
            calls.append(("stop",))
            self._recording = False

        def close(self):
            calls.append(("close",))
            self.closed = True

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    mod = types.ModuleType("pco")
    mod.Camera = Camera
    mod.camera_exception = types.SimpleNamespace(CameraException=CameraException)
    mod.calls = calls
    return mod
