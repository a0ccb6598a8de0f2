"""A fake of pycromanager's ZMQ Core (a running Micro-Manager's Java core): snake_case
methods, flat image buffers, string vectors with ``size()``/``get(i)`` and device types as
Java enum objects, none of which the in-process demo core shows. The real core with
Micro-Manager's demo adapters is tested in ``test_mm_real.py``."""

from __future__ import annotations

import numpy as np


class FakeCore:
    def __init__(self, width: int = 32, height: int = 24, flat: bool = True) -> None:
        self.calls: list[tuple] = []
        self.w, self.h, self.flat = width, height, flat
        self.xy = {"XY": [0.0, 0.0]}
        self.z = {"Z": 0.0}
        self.state = {"Wheel": 0}
        self.configs = {"Filter": "UV260"}
        self.exposure = 10.0
        self.camera = "Cam"
        self.devices = {"Cam": "CameraDevice", "XY": "XYStageDevice", "Z": "StageDevice"}
        self.devices.update(Wheel="StateDevice")
        self.groups = {"Filter": ["UV260", "UV280", "UV300", "Block"]}
        self.pixel_size_um = 0.0
        self.busy_polls = 0

    def get_loaded_devices(self):
        return StrVector(["Core", *self.devices])

    def get_device_type(self, label):
        return JavaEnum(self.devices[label])

    def device_busy(self, label):
        self._log("device_busy", label)
        if self.busy_polls:
            self.busy_polls -= 1
            return True
        return False

    def get_number_of_components(self):
        return 1

    def get_bytes_per_pixel(self):
        return 2

    def get_image_bit_depth(self):
        return 14

    def get_pixel_size_um(self):
        return self.pixel_size_um

    def has_property_limits(self, label, prop):
        return False

    def get_number_of_states(self, label):
        return 6

    def get_state_labels(self, label):
        return StrVector([f"State-{i}" for i in range(6)])

    def get_available_config_groups(self):
        return StrVector(list(self.groups))

    def get_available_configs(self, group):
        return StrVector(self.groups[group])

    def _log(self, *c):
        self.calls.append(c)

    def get_camera_device(self):
        return self.camera

    def set_camera_device(self, label):
        self._log("set_camera_device", label)

    def get_xy_stage_device(self):
        return "XY"

    def get_focus_device(self):
        return "Z"

    def set_exposure(self, ms):
        self._log("set_exposure", ms)
        self.exposure = ms

    def snap_image(self):
        self._log("snap_image")

    def get_image(self):
        img = np.arange(self.w * self.h, dtype=np.uint16)
        return img if self.flat else img.reshape(self.h, self.w)

    def get_image_width(self):
        return self.w

    def get_image_height(self):
        return self.h

    def set_xy_position(self, label, x, y):
        self._log("set_xy_position", label, x, y)
        self.xy[label] = [x, y]

    def get_x_position(self, label):
        return self.xy[label][0]

    def get_y_position(self, label):
        return self.xy[label][1]

    def set_position(self, label, z):
        self._log("set_position", label, z)
        self.z[label] = z

    def get_position(self, label):
        return self.z[label]

    def wait_for_device(self, label):
        self._log("wait_for_device", label)

    def home(self, label):
        self._log("home", label)

    def stop(self, label):
        self._log("stop", label)

    def set_state(self, label, state):
        self._log("set_state", label, state)
        self.state[label] = state

    def get_state(self, label):
        return self.state[label]

    def set_config(self, group, preset):
        self._log("set_config", group, preset)
        self.configs[group] = preset

    def get_current_config(self, group):
        return self.configs[group]

    def wait_for_config(self, group, preset):
        self._log("wait_for_config", group, preset)

    def set_property(self, label, prop, value):
        self._log("set_property", label, prop, value)


class StrVector:
    """A Java StrVector over ZMQ: ``size()`` and ``get(i)``, not a Python sequence."""

    def __init__(self, items):
        self._items = list(items)

    def size(self):
        return len(self._items)

    def get(self, i):
        return self._items[i]


class JavaEnum:
    """MMCoreJ's SWIG enum DeviceType over ZMQ: an object with ``swig_value()``, not an int."""

    CODES = {"CameraDevice": 2, "StateDevice": 4, "StageDevice": 5, "XYStageDevice": 6}

    def __init__(self, name):
        self.name = name

    def swig_value(self):
        return self.CODES[self.name]
