"""Any camera, XY stage, focus drive or filter wheel Micro-Manager knows, on its own core.

The devices of a rig share one core through ``mm_core.MMSession`` (zmq, headless or
pymmcore-plus; any other core object goes in through ``build_hardware_rig(...,
mm_core_factory=...)``), so uvscope runs beside napari-micromanager and pymmcore-widgets on
one configuration. At connect every device label, config group and preset is checked
against the loaded configuration (the error lists what exists), the camera's exposure
limits, image size, pixel size and pixel type are read from the core, and a state-device
wheel's position count comes from the core. Micro-Manager works in um; the stage interface
here is in mm. Moves are waited for by polling ``deviceBusy`` up to ``move_timeout_s``: the
core's own ``waitForDevice`` gives up after its ``TimeoutMs`` (5 s), shorter than a long
stage move.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from uvscope.config import RigConfig
from uvscope.drivers.base import (
    Camera,
    DeviceInfo,
    FilterWheel,
    FocusAxis,
    Frame,
    FrameMeta,
    XYStage,
)
from uvscope.drivers.mm_core import MMSession, strings
from uvscope.errors import ConfigError, DeviceError


class _MMDevice:
    kind_name = "device"

    def __init__(self, session: MMSession) -> None:
        self.session = session
        self._connected = False

    def _mm_connect(self, connect: Callable[[], None]) -> None:
        """Acquire the core and run ``connect``; a failed check lets the core go again."""
        if self._connected:
            return
        self.session.acquire()
        try:
            connect()
        except Exception:
            self.session.release()
            raise
        self._connected = True

    def _mm_close(self) -> None:
        if self._connected:
            self._connected = False
            self.session.release()


class MMCamera(Camera, _MMDevice):
    def __init__(self, config: RigConfig, session: MMSession) -> None:
        cam = config.camera
        Camera.__init__(
            self,
            cam.width_px,
            cam.height_px,
            cam.bit_depth,
            (cam.exposure_min_ms, cam.exposure_max_ms),
        )
        _MMDevice.__init__(self, session)
        self.config = cam
        self.label = ""
        self._index = 0
        self._t0: float | None = None

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        self.label = self.session.label("camera", "get_camera_device", "camera")
        self.session.call("set_camera_device", self.label)
        self._read_pixels()
        self._read_exposure_limits()

    def _read_pixels(self) -> None:
        """Image size, pixel size and pixel type as Micro-Manager has them (ROI and binning
        included; a pixel size of 0 means not calibrated there, so the rig file's holds)."""
        call = self.session.call
        components, nbytes = int(call("get_number_of_components")), int(call("get_bytes_per_pixel"))
        if components != 1 or nbytes > 2:
            raise ConfigError(
                f"Micro-Manager camera {self.label} gives {8 * nbytes}-bit "
                f"{'colour' if components > 1 else 'monochrome'} images; uvscope takes 8- to "
                "16-bit monochrome: set its PixelType (or BitDepth) in Micro-Manager"
            )
        self.width_px = int(call("get_image_width"))
        self.height_px = int(call("get_image_height"))
        self.bit_depth = int(call("get_image_bit_depth"))
        px = float(call("get_pixel_size_um"))
        self.pixel_size_um = px if px > 0 else None

    def _read_exposure_limits(self) -> None:
        """The rig file's exposure range narrowed to the camera's own (many cameras, the
        demo one too, ignore an exposure they cannot do instead of refusing it)."""
        lo, hi = self.config.exposure_min_ms, self.config.exposure_max_ms
        call = self.session.call
        if call("has_property_limits", self.label, "Exposure"):
            core_lo = float(call("get_property_lower_limit", self.label, "Exposure"))
            core_hi = float(call("get_property_upper_limit", self.label, "Exposure"))
            lo, hi = max(lo, core_lo), min(hi, core_hi)
            if lo >= hi:
                raise ConfigError(
                    f"camera.exposure_min_ms/exposure_max_ms do not overlap Micro-Manager "
                    f"camera {self.label}'s {core_lo:g}-{core_hi:g} ms"
                )
        self.exposure_range_ms = (lo, hi)
        self._exposure_ms = min(max(self._exposure_ms, lo), hi)

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(
            self.kind,
            f"Micro-Manager camera {self.label}",
            extra={
                "exposure_range_ms": self.exposure_range_ms,
                "pixel_size_um": self.pixel_size_um,
            },
        )

    def _do_set_exposure_ms(self, exposure_ms: float) -> None:
        self.session.call("set_exposure", float(exposure_ms))

    def _do_trigger(self) -> None:
        self._t0 = time.monotonic()
        self.session.call("snap_image")  # returns after the exposure

    def _do_read(self, timeout_s: float) -> Frame:
        if self._t0 is None:
            raise DeviceError("Micro-Manager camera: read without a trigger")
        t0, self._t0 = self._t0, None
        image = np.asarray(self.session.call("get_image"))
        if image.ndim == 1:  # pycromanager over ZMQ hands back a flat buffer
            h = int(self.session.call("get_image_height"))
            w = int(self.session.call("get_image_width"))
            image = image.reshape(h, w)
        if self.config.flip_x:
            image = image[:, ::-1]
        if self.config.flip_y:
            image = image[::-1, :]
        self._index += 1
        return Frame(
            np.ascontiguousarray(image, dtype=np.uint16),
            FrameMeta(self._exposure_ms, t0, self._index, {"camera": self.label}),
        )


class MMXYStage(XYStage, _MMDevice):
    """Micro-Manager XY stage; positions converted between mm (here) and um (Micro-Manager)."""

    def __init__(self, config: RigConfig, session: MMSession) -> None:
        XYStage.__init__(self, config.stage.x_limits_mm, config.stage.y_limits_mm)
        _MMDevice.__init__(self, session)
        self.label = ""

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        self.label = self.session.label("xy_stage", "get_xy_stage_device", "XY stage")

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, f"Micro-Manager XY stage {self.label}")

    def _do_start_move(self, x_mm: float, y_mm: float) -> None:
        self.session.call("set_xy_position", self.label, x_mm * 1000.0, y_mm * 1000.0)

    def _do_wait(self) -> None:
        self.session.wait_idle(self.label, "XY stage")

    def _do_get_position(self) -> tuple[float, float]:
        x = float(self.session.call("get_x_position", self.label))
        y = float(self.session.call("get_y_position", self.label))
        return x / 1000.0, y / 1000.0

    def _do_is_homed(self) -> bool | None:
        return None  # Micro-Manager's core has no "is homed" query

    def _do_home(self) -> None:
        self.session.call("home", self.label)
        self.session.wait_idle(self.label, "XY stage")

    def _do_stop(self) -> None:
        self.session.call("stop", self.label)


class MMFocus(FocusAxis, _MMDevice):
    def __init__(self, config: RigConfig, session: MMSession) -> None:
        FocusAxis.__init__(self, config.focus.limits_um)
        _MMDevice.__init__(self, session)
        self.label = ""

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        self.label = self.session.label("focus", "get_focus_device", "focus drive")

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, f"Micro-Manager focus {self.label}")

    def _do_start_move(self, z_um: float) -> None:
        self.session.call("set_position", self.label, float(z_um))

    def _do_wait(self) -> None:
        self.session.wait_idle(self.label, "focus drive")

    def _do_get_position(self) -> float:
        return float(self.session.call("get_position", self.label))

    def _do_is_homed(self) -> bool | None:
        return None  # Micro-Manager's core has no "is homed" query

    def _do_home(self) -> None:
        self.session.call("home", self.label)
        self.session.wait_idle(self.label, "focus drive")

    def _do_stop(self) -> None:
        self.session.call("stop", self.label)


class MMFilterWheel(FilterWheel, _MMDevice):
    """A state device (slot n is state n-1; its position count is the core's) or a config
    group with one preset per filter."""

    def __init__(self, config: RigConfig, session: MMSession) -> None:
        wheel = config.filter_wheel
        slots = {int(k): v for k, v in wheel.slots.items()}
        used = [*slots.values(), *([wheel.dark_slot] if wheel.dark_slot is not None else [])]
        count = wheel.position_count or max(used, default=1)  # the core's, read at connect
        FilterWheel.__init__(self, slots, count, wheel.dark_slot)
        _MMDevice.__init__(self, session)
        self.config = wheel
        s = session.settings
        self.group = s.filter_group
        self.label = s.filter_wheel or ""
        self.state_labels: list[str] = []
        self.presets: dict[int, str] = {}
        if self.group:
            missing = [nm for nm in wheel.slots if nm not in s.filter_presets]
            if missing:
                raise ConfigError(f"micromanager.filter_presets has no preset for {missing} nm")
            if wheel.dark_slot is not None and not s.dark_preset:
                raise ConfigError(
                    "micromanager.dark_preset is needed for dark frames "
                    "(or set filter_wheel.dark_slot to none)"
                )
            # presets by slot, so the FilterWheel interface (slots) works unchanged
            self.presets = {self.slots[int(nm)]: s.filter_presets[nm] for nm in wheel.slots}
            if wheel.dark_slot is not None and s.dark_preset:
                self.presets[wheel.dark_slot] = s.dark_preset

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        if self.group:
            self.session.check_presets(self.group, self.presets.values(), "filter_group")
            return
        if not self.session.settings.filter_wheel:
            raise ConfigError(
                "micromanager: set filter_wheel (a state device label) or "
                "filter_group for the filter wheel"
            )
        self.label = self.session.label("filter_wheel", None, "state device")
        count = int(self.session.call("get_number_of_states", self.label))
        self.state_labels = strings(self.session.call("get_state_labels", self.label))
        self._check_count(count)
        self.position_count = count

    def _check_count(self, count: int) -> None:
        """The rig file's positions against the state device's ``count`` states."""
        given = self.config.position_count
        if given is not None and given != count:
            raise ConfigError(
                f"filter_wheel.position_count is {given} but Micro-Manager's {self.label} has "
                f"{count} states; fix it or leave it out (the count is read from the core)"
            )
        named = {f"{nm} nm": slot for nm, slot in self.slots.items()}
        if self.dark_slot is not None:
            named["dark_slot"] = self.dark_slot
        outside = [f"{what} at slot {slot}" for what, slot in named.items() if slot > count]
        if outside:
            listing = ", ".join(f"{i + 1}={name}" for i, name in enumerate(self.state_labels))
            raise ConfigError(
                f"filter_wheel: {', '.join(outside)} is beyond Micro-Manager's {self.label} "
                f"with {count} states (slot n = state n-1: {listing})"
            )

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        if self.group:
            return DeviceInfo(
                self.kind,
                f"Micro-Manager filter (config group {self.group})",
                extra={"presets": {str(slot): name for slot, name in self.presets.items()}},
            )
        filters = {
            nm: self.state_labels[slot - 1]
            for nm, slot in self.slots.items()
            if slot <= len(self.state_labels)
        }
        return DeviceInfo(
            self.kind,
            f"Micro-Manager filter (state device {self.label}, {self.position_count} positions)",
            extra={"filters": filters},
        )

    def _do_start_move(self, slot: int) -> None:
        if self.group:
            if slot not in self.presets:
                raise DeviceError(f"no preset of group {self.group} for slot {slot}")
            self.session.call("set_config", self.group, self.presets[slot])
        else:
            self.session.call("set_state", self.label, slot - 1)

    def _do_wait(self) -> None:
        if self.group:
            self.session.call(
                "wait_for_config", self.group, self.session.call("get_current_config", self.group)
            )
        else:
            self.session.wait_idle(self.label, "filter wheel")

    def _do_get_slot(self) -> int:
        if self.group:
            preset = self.session.call("get_current_config", self.group)
            for slot, name in self.presets.items():
                if name == preset:
                    return slot
            raise DeviceError(f"config group {self.group} is at {preset!r}, not a known filter")
        return int(self.session.call("get_state", self.label)) + 1
