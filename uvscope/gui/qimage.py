"""numpy <-> Qt image conversion (the one place that knows QImage's buffer rules)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    """A QPixmap of an (H, W, 3) uint8 array; the pixmap owns a copy of the pixels."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = arr.shape
    img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(img.copy())
