"""The scan set-up form over ScanConfig: typed or "here" positions, errors beside each field.

The form never validates by itself: it builds the same dict a scan TOML holds and lets
``parse_model(ScanConfig, ...)`` judge it, then shows each ``field.path: message`` line of the
ConfigError beside the widget of that field. Save and load use the TOML the CLI reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.acquisition.grow import start_point
from uvscope.config import (
    WAVELENGTHS_NM,
    AnalysisConfig,
    BackgroundConfig,
    FocusPlanConfig,
    RetryConfig,
    RigConfig,
    SampleConfig,
    ScanConfig,
    TargetConfig,
    dump_toml,
    load_toml,
    parse_model,
)
from uvscope.errors import ConfigError, StorageError, UvscopeError
from uvscope.gui.estimate import ScanEstimate, estimate_scan
from uvscope.gui.model_choice import DEFAULT as DEFAULT_MODELS
from uvscope.gui.model_choice import model_choices

#: fields the form lays out itself; every other field of these models gets a generic editor,
#: so new config fields are editable (and survive a load/save) without touching the form
_ANALYSIS_OWN = {"enabled", "stop_after_wbc", "models"}
_FOCUS_OWN = {"z_um"}
#: the focus fields an operator sets; the rest (map, surface, metric, sweeps, thresholds)
#: are folded under "Advanced focus settings"
_FOCUS_BASIC = {"mode"}
_BACKGROUND_OWN = {"position_mm", "frames", "dark_frames"}


#: the identity fields: (label, SampleConfig field), and their error keys
_SAMPLE_FIELDS = (("Sample id", "id"), ("Slide id", "slide_id"), ("Operator", "operator"))
_SAMPLE_KEYS = tuple(f"sample.{name}" for _, name in _SAMPLE_FIELDS)

_UNITS = {"_nm": "nm", "_um": "µm", "_mm": "mm", "_ms": "ms", "_percent": "%", "_s": "s"}


def human_label(name: str) -> str:
    """``fine_range_um`` -> ``Fine range (µm)``: what the operator reads instead of a key."""
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ').capitalize()} ({unit})"
    return name.replace("_", " ").capitalize()


def human_message(msg: str) -> str:
    """Pydantic's wording made an instruction, field keys made labels."""
    msg = msg.replace("Input should be", "must be").replace("Field required", "required")
    return re.sub(r"\b[a-z]+(?:_[a-z0-9]+)+\b", lambda m: human_label(m.group(0)).lower(), msg)


def model_range(model: type[BaseModel], name: str) -> tuple[float | None, float | None]:
    """The (min, max) a field's constraints allow, for the spin box's range (None: open).

    A strict bound (``lt=50``) becomes the nearest value inside it at 0.1 resolution, so the
    box cannot even hold a value the model refuses."""
    lo: float | None = None
    hi: float | None = None
    for m in model.model_fields[name].metadata:
        if getattr(m, "ge", None) is not None:
            lo = float(m.ge)
        if getattr(m, "gt", None) is not None:
            lo = float(m.gt) + 0.1
        if getattr(m, "le", None) is not None:
            hi = float(m.le)
        if getattr(m, "lt", None) is not None:
            hi = float(m.lt) - 0.1
    return lo, hi


Wrap = Callable[[QWidget, str], QWidget]


class ExtraFields:
    """Generic editors for the fields of a config model the form does not lay out by hand.

    Literal -> combo box, bool -> check box, int/float -> spin box, anything else (optional
    numbers, paths, names) -> a line edit where empty means "not set" (pydantic parses text).
    ``wrap(editor, "prefix.name")`` puts each field's error label beside its own editor.
    """

    def __init__(
        self,
        model: type[BaseModel],
        own: set[str],
        form: QFormLayout,
        prefix: str = "",
        wrap: Wrap | None = None,
    ) -> None:
        self.widgets: dict[str, QWidget] = {}
        for name, f in model.model_fields.items():
            if name in own:
                continue
            w = self._editor(f.annotation)
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                lo, hi = model_range(model, name)
                if lo is not None:
                    w.setMinimum(int(lo)) if isinstance(w, QSpinBox) else w.setMinimum(lo)
                if hi is not None:
                    w.setMaximum(int(hi)) if isinstance(w, QSpinBox) else w.setMaximum(hi)
            w.setToolTip(f.description or "")
            self.widgets[name] = w
            row = wrap(w, f"{prefix}.{name}") if wrap is not None else w
            form.addRow(human_label(name), row)

    @staticmethod
    def _editor(annotation: Any) -> QWidget:
        if get_origin(annotation) is Literal:
            c = QComboBox()
            c.addItems([str(a) for a in get_args(annotation)])
            return c
        if annotation is bool:
            return QCheckBox()
        if annotation is int:
            return _ispin(-1_000_000_000, 1_000_000_000)
        if annotation is float:
            return _dspin(-1e9, 1e9, 4)
        return QLineEdit()

    def set(self, obj: BaseModel) -> None:
        for name, w in self.widgets.items():
            v = getattr(obj, name)
            if isinstance(w, QComboBox):
                w.setCurrentText(str(v))
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(v))
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                w.setValue(v)
            elif isinstance(w, QLineEdit):
                w.setText("" if v is None else str(v))

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, w in self.widgets.items():
            if isinstance(w, QComboBox):
                out[name] = w.currentText()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                out[name] = w.value()
            elif isinstance(w, QLineEdit) and w.text().strip():
                out[name] = w.text().strip()
        return out


class MergedFields:
    """Two ExtraFields of one model (the operator's and the expert's) as one."""

    def __init__(self, *parts: ExtraFields) -> None:
        self.parts = parts
        self.widgets: dict[str, QWidget] = {}
        for part in parts:
            self.widgets.update(part.widgets)

    def set(self, obj: BaseModel) -> None:
        for part in self.parts:
            part.set(obj)

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for part in self.parts:
            out.update(part.data())
        return out


class ModelCombo(QComboBox):
    """The model sets the weights folder holds, "default" first; editable, so the folder of
    any trained set (or a registry name) can be typed."""

    def __init__(self, root: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root = root  #: the weights folder; None: the registry's shipped one
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setToolTip("Model set from the weights registry, or the folder of a trained set")
        self.refresh()

    def refresh(self) -> None:
        current = self.value() if self.count() else DEFAULT_MODELS
        self.clear()
        for i, choice in enumerate(model_choices(self.root)):
            self.addItem(choice.label, choice.value)
            self.setItemData(i, choice.description, Qt.ItemDataRole.ToolTipRole)
        self.set_value(current)

    def set_value(self, value: str) -> None:
        index = self.findData(value)
        if index >= 0:
            self.setCurrentIndex(index)
        else:
            self.setEditText(value)

    def value(self) -> str:
        """The config value: the chosen set's, or the typed text."""
        text = self.currentText().strip()
        index = self.findText(text)
        return str(self.itemData(index)) if index >= 0 else text


def error_fields(message: str) -> list[tuple[str, str]]:
    """(field path, message) pairs from a ConfigError's ``  path: message`` lines."""
    out = []
    for line in message.splitlines()[1:]:
        path, sep, msg = line.strip().partition(": ")
        if sep:
            out.append((path, msg))
    return out


def _range(model: type[BaseModel], name: str, lo: float, hi: float) -> tuple[float, float]:
    mlo, mhi = model_range(model, name)
    return (lo if mlo is None else mlo, hi if mhi is None else mhi)


def _dspin(lo: float, hi: float, decimals: int = 3, suffix: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setMaximumWidth(120)
    if suffix:
        s.setSuffix(f" {suffix}")
    return s


def _ispin(lo: int, hi: int) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setMaximumWidth(120)
    return s


class ScanForm(QWidget):
    """Edits one ScanConfig; ``config()`` validates, ``position_mm`` supplies "here"."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: the stage position the "here" buttons use (set by the window from the polled position)
        self.position_mm: Callable[[], tuple[float, float] | None] = lambda: None
        self.focus_um: Callable[[], float | None] = lambda: None
        self.errors: dict[str, QLabel] = {}
        self._retries = RetryConfig()
        lay = QVBoxLayout(self)
        lay.addWidget(self._error_label("general"))
        lay.addWidget(self._sample_box())
        self.set_identity_required(True)

        general = QFormLayout()
        self.name = QLineEdit()
        general.addRow("Name", self._with_error(self.name, "name"))
        lay.addLayout(general)

        lay.addWidget(self._target_box())
        # the estimate before start, beside the target it is for (no scrolling to see it)
        box = QGroupBox("Estimate")
        v = QVBoxLayout(box)
        self.estimate_label = QLabel("")
        self.estimate_label.setWordWrap(True)
        v.addWidget(self.estimate_label)
        lay.addWidget(box)

        # region
        box = QGroupBox("Region")
        g = QGridLayout(box)
        self.by_corners = QRadioButton("Two corners")
        self.by_centre = QRadioButton("Centre and tiles")
        self.by_size = QRadioButton("Centre and size")
        grp = QButtonGroup(self)
        grp.addButton(self.by_corners)
        grp.addButton(self.by_centre)
        grp.addButton(self.by_size)
        self.corner = [
            [_dspin(-1000, 1000, 3, "mm"), _dspin(-1000, 1000, 3, "mm")] for _ in range(2)
        ]
        self.corner_here = [QPushButton("Here"), QPushButton("Here")]
        for i, b in enumerate(self.corner_here):
            b.setToolTip(f"Set corner {i + 1} at the current stage position")
        g.addWidget(self.by_corners, 0, 0, 1, 4)
        for i in range(2):
            g.addWidget(QLabel(f"Corner {i + 1} x / y"), 1 + i, 0)
            g.addWidget(self.corner[i][0], 1 + i, 1)
            g.addWidget(self.corner[i][1], 1 + i, 2)
            g.addWidget(self.corner_here[i], 1 + i, 3)
            self.corner_here[i].clicked.connect(lambda _=False, i=i: self._set_here(self.corner[i]))
        self.centre = [_dspin(-1000, 1000, 3, "mm"), _dspin(-1000, 1000, 3, "mm")]
        self.centre_here = QPushButton("Here")
        self.centre_here.setToolTip("Centre the region at the current stage position")
        self.centre_here.clicked.connect(lambda: self._set_here(self.centre))
        self.rows, self.columns = _ispin(0, 10_000), _ispin(0, 10_000)
        row = QHBoxLayout()
        row.addWidget(self.by_centre)
        row.addWidget(self.by_size)
        row.addStretch(1)
        g.addLayout(row, 3, 0, 1, 4)
        g.addWidget(QLabel("Centre x / y"), 4, 0)
        g.addWidget(self.centre[0], 4, 1)
        g.addWidget(self.centre[1], 4, 2)
        g.addWidget(self.centre_here, 4, 3)
        g.addWidget(QLabel("Rows / columns"), 5, 0)
        g.addWidget(self.rows, 5, 1)
        g.addWidget(self.columns, 5, 2)
        self.size_mm = [_dspin(0, 1000, 3, "mm"), _dspin(0, 1000, 3, "mm")]
        g.addWidget(QLabel("Size x / y"), 6, 0)
        g.addWidget(self.size_mm[0], 6, 1)
        g.addWidget(self.size_mm[1], 6, 2)
        g.addWidget(self._error_label("region"), 7, 0, 1, 4)
        for mode in (self.by_corners, self.by_centre, self.by_size):
            mode.toggled.connect(self._region_mode)
        lay.addWidget(box)

        form = QFormLayout()
        self.overlap = _dspin(*_range(ScanConfig, "overlap_percent", 0, 99), 1, "%")
        form.addRow("Overlap", self._with_error(self.overlap, "overlap_percent"))
        self.order = QComboBox()
        self.order.addItems(list(get_args(ScanConfig.model_fields["order"].annotation)))
        form.addRow("Order", self._with_error(self.order, "order"))
        lay.addLayout(form)

        # wavelengths
        box = QGroupBox("Wavelengths and exposures")
        g = QGridLayout(box)
        self.wl_on: dict[int, QCheckBox] = {}
        self.wl_exposure: dict[int, QDoubleSpinBox] = {}
        for r, nm in enumerate(WAVELENGTHS_NM):
            self.wl_on[nm] = QCheckBox(f"{nm} nm")
            self.wl_exposure[nm] = _dspin(0, 100_000, 1, "ms")
            g.addWidget(self.wl_on[nm], r, 0)
            g.addWidget(self.wl_exposure[nm], r, 1)
            g.addWidget(self._error_label(f"wavelength {nm}"), r, 2)
        g.addWidget(self._error_label("wavelengths"), len(WAVELENGTHS_NM), 0, 1, 3)
        self.live_exposures = QLabel("")
        self.live_exposures.setWordWrap(True)
        self.live_exposures.setStyleSheet("color: #555;")
        self._from_live: dict[int, float] = {}
        g.addWidget(self.live_exposures, len(WAVELENGTHS_NM) + 1, 0, 1, 3)
        lay.addWidget(box)

        # background
        box = QGroupBox("Background")
        g = QGridLayout(box)
        self.bg_default = QCheckBox("Default blank region (simulated slide)")
        self.bg_pos = [_dspin(-1000, 1000, 3, "mm"), _dspin(-1000, 1000, 3, "mm")]
        self.bg_here = QPushButton("Blank here")

        def blank_here() -> None:
            self.bg_default.setChecked(False)
            self._set_here(self.bg_pos)

        def default_blank(on: bool) -> None:
            for w in self.bg_pos:
                w.setEnabled(not on)

        self.bg_here.clicked.connect(blank_here)
        self.bg_default.toggled.connect(default_blank)
        self.bg_frames, self.dark_frames = _ispin(0, 10_000), _ispin(0, 10_000)
        g.addWidget(self.bg_default, 0, 0, 1, 4)
        g.addWidget(QLabel("Blank x / y"), 1, 0)
        g.addWidget(self.bg_pos[0], 1, 1)
        g.addWidget(self.bg_pos[1], 1, 2)
        g.addWidget(self.bg_here, 1, 3)
        g.addWidget(QLabel("Frames / darks"), 2, 0)
        g.addWidget(self.bg_frames, 2, 1)
        g.addWidget(self.dark_frames, 2, 2)
        extra = QFormLayout()
        self.background_extra = ExtraFields(
            BackgroundConfig, _BACKGROUND_OWN, extra, "background", self._with_error
        )
        g.addLayout(extra, 3, 0, 1, 4)
        g.addWidget(self._error_label("background"), 4, 0, 1, 4)
        lay.addWidget(box)

        # focus, output
        form = QFormLayout()
        self.fixed_z = QCheckBox("Fixed focus")
        self.z = _dspin(-100_000, 100_000, 2, "um")
        self.z_here = QPushButton("Current")
        self.z_here.setToolTip("Use the current focus position")
        self.z_here.clicked.connect(self._z_here)
        zrow = QHBoxLayout()
        for w in (self.fixed_z, self.z, self.z_here):
            zrow.addWidget(w)
        zw = QWidget()
        zw.setLayout(zrow)
        zrow.setContentsMargins(0, 0, 0, 0)
        form.addRow("Focus", self._with_error(zw, "focus"))
        self.focus_extra = self._focus_fields(form)
        self.output_dir = QLineEdit()
        self.output_dir.setPlaceholderText("scan folder (required to start from the GUI)")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        orow = QHBoxLayout()
        orow.setContentsMargins(0, 0, 0, 0)
        orow.addWidget(self.output_dir)
        orow.addWidget(browse)
        ow = QWidget()
        ow.setLayout(orow)
        form.addRow("Output folder", self._with_error(ow, "output_dir"))
        self.save_raw = QCheckBox("Keep raw frames")
        form.addRow("", self.save_raw)
        lay.addLayout(form)

        # analysis
        box = QGroupBox("Analysis")
        form = QFormLayout(box)
        self.analysis_on = QCheckBox("Analyse tiles while scanning")
        form.addRow(self.analysis_on)
        self.stop_on = QCheckBox("Stop after")
        self.stop_n = _ispin(0, 1_000_000)
        srow = QHBoxLayout()
        srow.setContentsMargins(0, 0, 0, 0)
        srow.addWidget(self.stop_on)
        srow.addWidget(self.stop_n)
        srow.addWidget(QLabel("healthy WBCs"))
        srow.addStretch(1)
        sw = QWidget()
        sw.setLayout(srow)
        form.addRow("", sw)
        self.models = ModelCombo()
        form.addRow("Models", self._with_error(self.models, "analysis.models"))
        self.analysis_extra = ExtraFields(
            AnalysisConfig, _ANALYSIS_OWN, form, "analysis", self._with_error
        )
        form.addRow(self._error_label("analysis"))
        lay.addWidget(box)
        lay.addStretch(1)
        #: the rig the estimate is for (set by the window); None: no estimate
        self.rig_config: RigConfig | None = None
        self.estimate: ScanEstimate | None = None
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(250)
        self._estimate_timer.timeout.connect(self.update_estimate)
        self._watch_inputs()

        self.set_config(ScanConfig())

    # ------------------------------------------------------------------ what to scan
    def _target_box(self) -> QGroupBox:
        """Count N WBCs (scan outward from a start point until counted) or a fixed region."""
        box = QGroupBox("Scan until")
        g = QGridLayout(box)
        self.by_target = QRadioButton("Count")
        self.by_region = QRadioButton("Fixed region (below)")
        grp = QButtonGroup(self)
        grp.addButton(self.by_target)
        grp.addButton(self.by_region)
        self.target_n = QComboBox()
        self.target_n.addItems(["200", "100"])
        self.target_n.setToolTip("Healthy WBCs to count: 100 or 200 for a differential")
        row = QHBoxLayout()
        row.addWidget(self.by_target)
        row.addWidget(self.target_n)
        row.addWidget(QLabel("healthy WBCs"))
        row.addStretch(1)
        g.addLayout(row, 0, 0, 1, 4)
        self.start = [_dspin(-1000, 1000, 3, "mm"), _dspin(-1000, 1000, 3, "mm")]
        self.start_here = QPushButton("Here")
        self.start_here.setToolTip("Start at the current stage position")
        self.start_here.clicked.connect(lambda: self._set_here(self.start))
        g.addWidget(QLabel("Start x / y"), 1, 0)
        g.addWidget(self.start[0], 1, 1)
        g.addWidget(self.start[1], 1, 2)
        g.addWidget(self.start_here, 1, 3)
        self.max_area = _dspin(0, 5000, 1, "mm²")
        g.addWidget(QLabel("At most"), 2, 0)
        g.addWidget(self.max_area, 2, 1)
        g.addWidget(self._error_label("target"), 3, 0, 1, 4)
        g.addWidget(self.by_region, 4, 0, 1, 4)
        for mode in (self.by_target, self.by_region):
            mode.toggled.connect(self._target_mode)
        return box

    def _target_mode(self) -> None:
        """A target count needs the analysis (it counts the cells) and replaces the stop
        rule; its start and area apply only to it."""
        on = self.by_target.isChecked()
        for w in (self.target_n, *self.start, self.start_here, self.max_area):
            w.setEnabled(on)
        if on:
            self.analysis_on.setChecked(True)
        self.stop_on.setEnabled(not on)
        self.stop_n.setEnabled(not on)

    def _set_target(self, cfg: ScanConfig) -> None:
        t = cfg.target
        (self.by_target if t is not None else self.by_region).setChecked(True)
        if t is not None:
            if self.target_n.findText(str(t.wbc)) < 0:
                self.target_n.addItem(str(t.wbc))  # a scan file's own count is kept
            self.target_n.setCurrentText(str(t.wbc))
        start = t.start_mm if t is not None and t.start_mm is not None else None
        if start is None:  # the region's centre, as a scan file without start_mm means
            start = start_point(cfg, t or TargetConfig(wbc=1))
        self.start[0].setValue(start[0])
        self.start[1].setValue(start[1])
        self.max_area.setValue(t.max_area_mm2 if t is not None else 25.0)
        self._target_mode()

    def _target_data(self) -> dict[str, Any] | None:
        if not self.by_target.isChecked():
            return None
        return {
            "wbc": int(self.target_n.currentText()),
            "start_mm": [s.value() for s in self.start],
            "max_area_mm2": self.max_area.value(),
        }

    # ------------------------------------------------------------------ sample identity
    def _sample_box(self) -> QGroupBox:
        """Sample id, slide id and operator first: typed, or read by a barcode scanner (which
        types the code and presses Enter: Enter goes on to the next field, never starts)."""
        box = QGroupBox("Sample")
        self.sample_group = box
        form = QFormLayout(box)
        self.sample_id = QLineEdit()
        self.sample_id.setPlaceholderText("specimen / LIS number (type or scan the barcode)")
        self.slide_id = QLineEdit()
        self.slide_id.setPlaceholderText("slide barcode")
        self.operator = QLineEdit()
        self.operator.setPlaceholderText("who runs the scan")
        edits = (self.sample_id, self.slide_id, self.operator)
        for edit, key, (label, name) in zip(edits, _SAMPLE_KEYS, _SAMPLE_FIELDS, strict=True):
            edit.setMaxLength(64)  # SampleConfig's limit: a longer scan cannot be saved
            edit.setToolTip(SampleConfig.model_fields[name].description or "")
            form.addRow(label, self._with_error(edit, key))
        for edit, after in zip(edits, (*edits[1:], None), strict=True):
            edit.returnPressed.connect(lambda after=after: self._next_field(after))
        return box

    def _next_field(self, after: QLineEdit | None) -> None:
        if after is not None:
            after.setFocus()
            after.selectAll()
        else:
            self.focusNextChild()  # past the operator: on into the form, nothing starts

    def set_identity_required(self, required: bool) -> None:
        """Say on the form what the lab's settings ask (Start checks it)."""
        self.identity_required = required
        self.sample_group.setTitle(
            "Sample (required before Start)" if required else "Sample (optional in this lab)"
        )

    def sample(self) -> SampleConfig:
        return SampleConfig(
            id=self.sample_id.text().strip(),
            slide_id=self.slide_id.text().strip(),
            operator=self.operator.text().strip(),
        )

    def check_identity(self) -> None:
        """Refuse (ConfigError, shown beside each empty field) a scan of an unnamed sample."""
        edits = (self.sample_id, self.slide_id, self.operator)
        empty = [
            (edit, key, label)
            for edit, key, (label, _) in zip(edits, _SAMPLE_KEYS, _SAMPLE_FIELDS, strict=True)
            if not edit.text().strip()
        ]
        if empty:
            err = ConfigError(
                "scan set-up: the sample is not identified\n"
                + "\n".join(
                    f"  {key}: required: type the {label.lower()} or scan its barcode"
                    for _, key, label in empty
                )
            )
            self.show_errors(err)
            empty[0][0].setFocus()
            raise err

    def _focus_fields(self, form: QFormLayout) -> MergedFields:
        """The focus mode for the operator; the focus-map and sweep settings of an expert
        folded under "Advanced focus settings" (opened by an error in one of them)."""
        names = set(FocusPlanConfig.model_fields)
        basic = ExtraFields(FocusPlanConfig, names - _FOCUS_BASIC, form, "focus", self._with_error)
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced focus settings")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setStyleSheet("QToolButton { border: none; }")
        self.advanced = QWidget()
        adv_form = QFormLayout(self.advanced)
        adv_form.setContentsMargins(12, 0, 0, 0)
        advanced = ExtraFields(
            FocusPlanConfig, _FOCUS_OWN | _FOCUS_BASIC, adv_form, "focus", self._with_error
        )
        self.advanced.setVisible(False)

        def fold(open_: bool) -> None:
            self.advanced.setVisible(open_)
            arrow = Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow
            self.advanced_toggle.setArrowType(arrow)

        self.advanced_toggle.toggled.connect(fold)
        form.addRow(self.advanced_toggle)
        form.addRow(self.advanced)
        return MergedFields(basic, advanced)

    # ------------------------------------------------------------------ building blocks
    def _error_label(self, key: str) -> QLabel:
        lab = QLabel("")
        lab.setStyleSheet("color: #c0392b;")
        lab.setWordWrap(True)
        lab.setVisible(False)
        self.errors[key] = lab
        return lab

    def _with_error(self, w: QWidget, key: str) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(1)
        v.addWidget(w)
        v.addWidget(self._error_label(key))
        return box

    def _set_here(self, spins: list[QDoubleSpinBox]) -> None:
        pos = self.position_mm()
        if pos is None:
            self.show_errors(
                ConfigError(
                    "position\n  region: the stage position is not known "
                    "yet; connect the rig or type the position"
                )
            )
            return
        spins[0].setValue(pos[0])
        spins[1].setValue(pos[1])

    def set_region_corners(self, x0_mm: float, y0_mm: float, x1_mm: float, y1_mm: float) -> None:
        """A region drawn on the slide overview: the two-corners form, those corners."""
        self.by_corners.setChecked(True)
        for spins, (x, y) in zip(self.corner, ((x0_mm, y0_mm), (x1_mm, y1_mm)), strict=True):
            spins[0].setValue(x)
            spins[1].setValue(y)
        self._region_mode()

    def _z_here(self) -> None:
        z = self.focus_um()
        if z is not None:
            self.fixed_z.setChecked(True)
            self.z.setValue(z)

    def _region_mode(self) -> None:
        corners, sized = self.by_corners.isChecked(), self.by_size.isChecked()
        for w in (*self.corner[0], *self.corner[1], *self.corner_here):
            w.setEnabled(corners)
        for w in (*self.centre, self.centre_here):
            w.setEnabled(not corners)
        for w in (self.rows, self.columns):
            w.setEnabled(not corners and not sized)
        for w in self.size_mm:
            w.setEnabled(sized)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Scan output folder", self.output_dir.text())
        if d:
            self.output_dir.setText(d)

    # ------------------------------------------------------------------ estimate
    def _watch_inputs(self) -> None:
        """Any edit re-estimates (debounced) and announces ``changed``."""
        kick = self._estimate_timer.start
        for w in self.findChildren(QAbstractSpinBox):
            w.valueChanged.connect(kick)  # type: ignore[attr-defined]
        for b in self.findChildren(QAbstractButton):
            b.toggled.connect(kick)
        for c in self.findChildren(QComboBox):
            c.currentTextChanged.connect(kick)
        for e in self.findChildren(QLineEdit):
            e.textChanged.connect(kick)
        self._estimate_timer.timeout.connect(self.changed.emit)

    def update_estimate(self) -> ScanEstimate | None:
        """Tiles, time, disk and expected WBCs of the set-up as it stands (errors not shown)."""
        self.estimate = None
        if self.rig_config is None:
            self.estimate_label.setText("Connect a rig to see an estimate.")
            return None
        try:
            cfg = parse_model(ScanConfig, self.data(), "scan set-up")
            self.estimate = estimate_scan(cfg, self.rig_config)
        except ConfigError:
            self.estimate_label.setText(
                "No estimate: the set-up is not valid yet (Start scan "
                "shows what to fix beside each field)."
            )
            return None
        except UvscopeError as err:  # a region outside the stage limits
            self.estimate_label.setText(f"No estimate: {err}")
            return None
        self.estimate_label.setText(self.estimate.text())
        return self.estimate

    # ------------------------------------------------------------------ live-view exposures
    def set_exposure(self, nm: int, exposure_ms: float) -> None:
        """A wavelength's exposure as set in live view (typed or auto-exposure)."""
        if nm not in self.wl_exposure:
            return
        self.wl_exposure[nm].setValue(exposure_ms)
        self._from_live[nm] = exposure_ms
        taken = ", ".join(f"{k} nm {v:.3g} ms" for k, v in sorted(self._from_live.items()))
        self.live_exposures.setText(f"Exposures taken from live view: {taken}")

    def exposures(self) -> dict[int, float]:
        """Exposure per wavelength as the form shows it (ticked or not)."""
        return {nm: spin.value() for nm, spin in self.wl_exposure.items()}

    # ------------------------------------------------------------------ model <-> widgets
    def set_config(self, cfg: ScanConfig) -> None:
        self.name.setText(cfg.name)
        self.sample_id.setText(cfg.sample.id)
        self.slide_id.setText(cfg.sample.slide_id)
        self.operator.setText(cfg.sample.operator)
        self._retries = cfg.retries  # no widget: kept as loaded, never reset by a save
        r = cfg.region
        if r.corners_mm is not None:
            self.by_corners.setChecked(True)
            for i in range(2):
                for j in range(2):
                    self.corner[i][j].setValue(r.corners_mm[i][j])
        else:
            (self.by_size if r.size_mm is not None else self.by_centre).setChecked(True)
            if r.size_mm is not None:
                self.size_mm[0].setValue(r.size_mm[0])
                self.size_mm[1].setValue(r.size_mm[1])
            assert r.center_mm is not None
            self.centre[0].setValue(r.center_mm[0])
            self.centre[1].setValue(r.center_mm[1])
            if r.rows is not None and r.columns is not None:
                self.rows.setValue(r.rows)
                self.columns.setValue(r.columns)
        self._region_mode()
        self.overlap.setValue(cfg.overlap_percent)
        self.order.setCurrentText(cfg.order)
        exp = {w.nm: w.exposure_ms for w in cfg.wavelengths}
        for nm in WAVELENGTHS_NM:
            self.wl_on[nm].setChecked(nm in exp)
            self.wl_exposure[nm].setValue(exp.get(nm, 50.0))
        bg = cfg.background
        self.bg_default.setChecked(bg.position_mm is None)
        if bg.position_mm is not None:
            self.bg_pos[0].setValue(bg.position_mm[0])
            self.bg_pos[1].setValue(bg.position_mm[1])
        self.bg_frames.setValue(bg.frames)
        self.dark_frames.setValue(bg.dark_frames)
        self.fixed_z.setChecked(cfg.focus.z_um is not None)
        if cfg.focus.z_um is not None:
            self.z.setValue(cfg.focus.z_um)
        self.output_dir.setText(str(cfg.output_dir) if cfg.output_dir else "")
        self.save_raw.setChecked(cfg.save_raw)
        a = cfg.analysis
        self.analysis_on.setChecked(a.enabled)
        self.stop_on.setChecked(a.stop_after_wbc is not None)
        self.stop_n.setValue(a.stop_after_wbc or 200)
        self.models.set_value(a.models)
        self.analysis_extra.set(a)
        self._set_target(cfg)
        self.focus_extra.set(cfg.focus)
        self.background_extra.set(bg)
        self.show_errors(None)

    def data(self) -> dict[str, Any]:
        """The scan TOML's content as the widgets describe it (not yet validated)."""
        if self.by_corners.isChecked():
            region: dict[str, Any] = {"corners_mm": [[s.value() for s in c] for c in self.corner]}
        elif self.by_size.isChecked():
            region = {
                "center_mm": [s.value() for s in self.centre],
                "size_mm": [s.value() for s in self.size_mm],
            }
        else:
            region = {
                "center_mm": [s.value() for s in self.centre],
                "rows": self.rows.value(),
                "columns": self.columns.value(),
            }
        self._wl_order = [nm for nm in WAVELENGTHS_NM if self.wl_on[nm].isChecked()]
        bg: dict[str, Any] = {
            "frames": self.bg_frames.value(),
            "dark_frames": self.dark_frames.value(),
            **self.background_extra.data(),
        }
        if not self.bg_default.isChecked():
            bg["position_mm"] = [s.value() for s in self.bg_pos]
        analysis: dict[str, Any] = {
            "enabled": self.analysis_on.isChecked(),
            "models": self.models.value(),
        }
        target = self._target_data()
        if self.stop_on.isChecked() and target is None:
            analysis["stop_after_wbc"] = self.stop_n.value()
        analysis.update(self.analysis_extra.data())
        data: dict[str, Any] = {
            "name": self.name.text(),
            "sample": {
                "id": self.sample_id.text().strip(),
                "slide_id": self.slide_id.text().strip(),
                "operator": self.operator.text().strip(),
            },
            "region": region,
            "overlap_percent": self.overlap.value(),
            "order": self.order.currentText(),
            "wavelengths": [
                {"nm": nm, "exposure_ms": self.wl_exposure[nm].value()} for nm in self._wl_order
            ],
            "background": bg,
            "focus": ({"z_um": self.z.value()} if self.fixed_z.isChecked() else {})
            | self.focus_extra.data(),
            "analysis": analysis,
            "save_raw": self.save_raw.isChecked(),
        }
        if target is not None:
            data["target"] = target
        if self._retries != RetryConfig():
            data["retries"] = self._retries.model_dump()
        if self.output_dir.text().strip():
            data["output_dir"] = self.output_dir.text().strip()
        return data

    def config(self) -> ScanConfig:
        """The validated ScanConfig; on error, show it beside the fields and re-raise."""
        try:
            cfg = parse_model(ScanConfig, self.data(), "scan set-up")
        except ConfigError as err:
            self.show_errors(err)
            raise
        self.show_errors(None)
        return cfg

    def validate(self) -> ScanConfig | None:
        try:
            return self.config()
        except ConfigError:
            return None

    def show_errors(self, err: ConfigError | None) -> None:
        """Each error beside its field, in words; the first one scrolled into view."""
        for lab in self.errors.values():
            lab.clear()
            lab.setVisible(False)
        if err is None:
            return
        first: QLabel | None = None
        for path, msg in error_fields(str(err)):
            key = self._error_key(path, msg)
            lab = self.errors[key]
            if self.advanced.isAncestorOf(lab):
                self.advanced_toggle.setChecked(True)  # an error is never hidden in the fold
            text = human_message(msg)
            if key == "general":  # not beside a field: say which one
                text = f"{human_label(path.split('.')[-1])}: {text}"
            lab.setText((lab.text() + "\n" if lab.text() else "") + text)
            lab.setVisible(True)
            first = first or lab
        if first is not None:
            self._scroll_to(first)

    def _scroll_to(self, label: QLabel) -> None:
        w: QWidget | None = self.parentWidget()
        while w is not None and not isinstance(w, QScrollArea):
            w = w.parentWidget()
        if isinstance(w, QScrollArea):
            area = w
            target = label.parentWidget() or label
            area.ensureWidgetVisible(target, 20, 40)
            # again once the layout has settled (a fold just opened moves the field down)
            QTimer.singleShot(0, lambda: area.ensureWidgetVisible(target, 20, 40))

    def _error_key(self, path: str, msg: str) -> str:
        parts = path.split(".")
        if parts[0] == "(top level)":
            parts = [msg.split(":")[0].strip()]
        if len(parts) > 1 and ".".join(parts[:2]) in self.errors:  # an extra field's own
            return ".".join(parts[:2])
        head = parts[0]
        if head == "wavelengths" and len(parts) > 1 and parts[1].isdigit():
            order = getattr(self, "_wl_order", [])
            i = int(parts[1])
            if i < len(order):
                return f"wavelength {order[i]}"
        return head if head in self.errors else "general"

    def show_model_error(self, err: BaseException) -> None:
        """A refused model set (missing weights, another modality or pixel size) beside the
        Models field, in the registry's own words (file names kept as they are)."""
        self.show_errors(None)
        lab = self.errors["analysis.models"]
        lab.setText(" ".join(str(err).split()))
        lab.setVisible(True)
        self._scroll_to(lab)

    def error_text(self, key: str) -> str:
        return self.errors[key].text()

    # ------------------------------------------------------------------ files
    def save(self, path: Path) -> None:
        """Validate and write the scan TOML (the same file ``uvscope scan --config`` reads)."""
        cfg = self.config()
        try:
            Path(path).write_text(dump_toml(cfg), encoding="utf-8")
        except OSError as err:
            raise StorageError(f"could not save {path}: {err}; choose a writable file") from err

    def load(self, path: Path) -> ScanConfig:
        cfg = load_toml(ScanConfig, path)
        self.set_config(cfg)
        return cfg
