"""Save one live-view frame as OME-TIFF: the raw camera counts, lossless, with the pixel
size, wavelength, exposure and stage position in the OME metadata (Fiji, QuPath and napari
read them). The write runs off the GUI thread; ``saved`` or ``failed`` says how it went."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from uvscope.drivers.base import Frame
from uvscope.errors import StorageError
from uvscope.io.ome import ImageMeta, write_ome_tiff


def frame_meta(
    frame: Frame,
    pixel_size_um: float,
    wavelength_nm: int | None,
    stage_mm: tuple[float, float] | None,
) -> ImageMeta:
    return ImageMeta(
        pixel_size_um=pixel_size_um,
        wavelength_nm=wavelength_nm,
        exposure_ms=float(frame.meta.exposure_ms),
        x_mm=stage_mm[0] if stage_mm else None,
        y_mm=stage_mm[1] if stage_mm else None,
        name=f"live frame {frame.meta.frame_index}",
    )


def write_frame(path: str | Path, frame: Frame, meta: ImageMeta) -> Path:
    """Write the frame; StorageError (with what to do) when the file cannot be written."""
    path = Path(path)
    if not path.name.endswith((".ome.tif", ".ome.tiff")):
        path = path.with_name(path.name.removesuffix(".tif").removesuffix(".tiff") + ".ome.tif")
    try:
        return write_ome_tiff(path, frame.image, meta)
    except OSError as err:
        raise StorageError(
            f"could not save the frame to {path}: {err}; choose a writable folder"
        ) from err


class FrameSaver(QObject):
    saved = Signal(str)
    failed = Signal(str)

    def save(self, path: str | Path, frame: Frame, meta: ImageMeta) -> threading.Thread:
        def work() -> None:
            try:
                out = write_frame(path, frame, meta)
            except StorageError as err:
                self.failed.emit(str(err))
                return
            self.saved.emit(str(out))

        thread = threading.Thread(target=work, name="uvscope-save-frame", daemon=True)
        thread.start()
        return thread
