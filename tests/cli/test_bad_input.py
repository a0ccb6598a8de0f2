"""Every bad input: one clear message naming the field or file, exit 2, never a traceback.

Scan, rig and batch files, damaged scan folders and damaged analysis results, run through the
CLI in-process (click's CliRunner) so the suite of ~170 cases takes seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main
from uvscope.io.scanfolder import ScanFolder

RIG = SMALL_RIG
SCAN = small_scan(2, 2)


def _ok(r, expect: str, code: int = 2, bug: bool = False) -> None:
    """Exit ``code``, ``expect`` named in the message, and no traceback anywhere (nor, for
    bad input, the "unexpected error" line a bug gets)."""
    out = r.output
    assert r.exit_code == code, out
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in out
    assert bug or "unexpected" not in out, out
    assert expect.lower() in " ".join(out.split()).lower(), out


def _sub(old: str, new: str, text: str = SCAN) -> str:
    assert old in text, old
    return text.replace(old, new)


# ------------------------------------------------------------------ scan files
SCAN_CASES: list[tuple[str, str | bytes, str]] = [
    ("exposure-bool", _sub("exposure_ms = 50.0", "exposure_ms = true"), "exposure_ms"),
    ("exposure-false", _sub("exposure_ms = 50.0", "exposure_ms = false"), "exposure_ms"),
    ("exposure-negative", _sub("exposure_ms = 50.0", "exposure_ms = -1"), "exposure_ms"),
    ("exposure-zero", _sub("exposure_ms = 50.0", "exposure_ms = 0"), "exposure_ms"),
    ("exposure-nan", _sub("exposure_ms = 50.0", "exposure_ms = nan"), "exposure_ms"),
    ("exposure-inf", _sub("exposure_ms = 50.0", "exposure_ms = inf"), "exposure_ms"),
    ("exposure-list", _sub("exposure_ms = 50.0", "exposure_ms = [1]"), "exposure_ms"),
    ("exposure-table", _sub("exposure_ms = 50.0", "exposure_ms = {a = 1}"), "exposure_ms"),
    ("exposure-date", _sub("exposure_ms = 50.0", "exposure_ms = 1979-05-27"), "exposure_ms"),
    ("exposure-word", _sub("exposure_ms = 50.0", 'exposure_ms = "long"'), "exposure_ms"),
    ("nm-250", _sub("nm = 260", "nm = 250"), "nm"),
    ("nm-bool", _sub("nm = 260", "nm = true"), "nm"),
    ("nm-fraction", _sub("nm = 260", "nm = 260.5"), "nm"),
    ("nm-string", _sub("nm = 260", 'nm = "uv"'), "nm"),
    ("nm-missing", _sub("nm = 260\n", ""), "wavelengths.0.nm"),
    (
        "focus-offset-big",
        _sub("exposure_ms = 50.0", "exposure_ms = 50.0\nfocus_offset_um = 99"),
        "focus_offset_um",
    ),
    ("wavelength-unknown-key", _sub("nm = 260", "nm = 260\ngain = 2"), "gain"),
    ("wavelengths-empty", "name = 't'\nwavelengths = []\n", "wavelengths"),
    ("wavelengths-number", "name = 't'\nwavelengths = 5\n", "wavelengths"),
    ("wavelengths-twice", SCAN + "[[wavelengths]]\nnm = 260\n", "twice"),
    ("rows-zero", _sub("rows = 2", "rows = 0"), "rows"),
    ("rows-negative", _sub("rows = 2", "rows = -3"), "rows"),
    ("rows-bool", _sub("rows = 2", "rows = true"), "rows"),
    ("rows-fraction", _sub("rows = 2", "rows = 1.5"), "rows"),
    ("rows-string", _sub("rows = 2", 'rows = "two"'), "rows"),
    ("rows-alone", _sub("columns = 2\n", ""), "region"),
    ("rows-huge", _sub("rows = 2", "rows = 100000000"), "region needs"),
    ("columns-huge", _sub("columns = 2", "columns = 9999999999"), "region needs"),
    ("center-short", _sub("[42.5, 32.5]", "[42.5]"), "center_mm"),
    ("center-long", _sub("[42.5, 32.5]", "[42.5, 32.5, 1]"), "center_mm"),
    ("center-bool", _sub("[42.5, 32.5]", "[true, 32.5]"), "center_mm"),
    ("center-nan", _sub("[42.5, 32.5]", "[nan, 32.5]"), "center_mm"),
    ("center-string", _sub("[42.5, 32.5]", '"middle"'), "center_mm"),
    ("center-outside-stage", _sub("[42.5, 32.5]", "[200.0, 32.5]"), "x_limits_mm"),
    ("center-negative", _sub("[42.5, 32.5]", "[-50.0, 32.5]"), "x_limits_mm"),
    ("region-empty", _sub("center_mm = [42.5, 32.5]\nrows = 2\ncolumns = 2\n", ""), "region"),
    ("region-two-forms", _sub("rows = 2", "rows = 2\ncorners_mm = [[40, 30], [41, 31]]"), "region"),
    ("region-size-zero", _sub("rows = 2\ncolumns = 2", "size_mm = [0, 1]"), "size_mm"),
    ("region-size-and-rows", _sub("rows = 2", "rows = 2\nsize_mm = [1, 1]"), "region"),
    ("region-typo", _sub("rows = 2", "row = 2"), "region.row"),
    ("region-number", "name = 't'\nregion = 5\n", "region"),
    (
        "corners-bad",
        _sub("center_mm = [42.5, 32.5]\nrows = 2\ncolumns = 2", "corners_mm = [[40, 30]]"),
        "corners_mm",
    ),
    ("overlap-50", SCAN + "overlap_percent = 50\n", "overlap_percent"),
    ("overlap-negative", "overlap_percent = -1\n" + SCAN, "overlap_percent"),
    ("overlap-bool", "overlap_percent = true\n" + SCAN, "overlap_percent"),
    ("order-zigzag", "order = 'zigzag'\n" + SCAN, "order"),
    ("top-typo", "exposure = 5\n" + SCAN, "exposure"),
    ("section-typo", SCAN.replace("[background]", "[backgound]"), "backgound"),
    ("name-number", _sub('name = "t"', "name = 5"), "name"),
    ("save-raw-number", "save_raw = 2\n" + SCAN, "save_raw"),
    ("save-raw-yes", 'save_raw = "yes"\n' + SCAN, "save_raw: 'yes' is not a boolean"),
    ("save-raw-one", "save_raw = 1\n" + SCAN, "save_raw"),
    ("analysis-enabled-word", SCAN + "[analysis]\nenabled = 'false'\n", "analysis.enabled"),
    ("size-huge", _sub("rows = 2\ncolumns = 2", "size_mm = [1e308, 1e308]"), "size_mm"),
    (
        "corners-huge",
        _sub(
            "center_mm = [42.5, 32.5]\nrows = 2\ncolumns = 2",
            "corners_mm = [[-1e308, 0], [1e308, 1]]",
        ),
        "corners_mm",
    ),
    ("output-dir-number", "output_dir = 5\n" + SCAN, "output_dir"),
    ("bg-frames-zero", _sub("frames = 2\ndark", "frames = 0\ndark"), "background.frames"),
    ("bg-frames-huge", _sub("frames = 2\ndark", "frames = 100000\ndark"), "background.frames"),
    ("bg-frames-bool", _sub("frames = 2\ndark", "frames = true\ndark"), "background.frames"),
    ("dark-negative", _sub("dark_frames = 2", "dark_frames = -1"), "dark_frames"),
    ("dark-bool", _sub("dark_frames = 2", "dark_frames = false"), "dark_frames"),
    ("bg-repeat-zero", SCAN + "repeat_every_tiles = 0\n", "repeat_every_tiles"),
    ("bg-minutes-negative", SCAN + "repeat_every_minutes = -5\n", "repeat_every_minutes"),
    ("bg-drift-big", SCAN + "drift_threshold_percent = 101\n", "drift_threshold_percent"),
    ("bg-position-3", SCAN + "position_mm = [1, 2, 3]\n", "position_mm"),
    ("bg-position-bool", SCAN + "position_mm = [true, 2]\n", "position_mm"),
    ("bg-position-off-stage", SCAN + "position_mm = [500, 2]\n", "limits"),
    ("focus-mode", SCAN + "[focus]\nmode = 'sometimes'\n", "focus.mode"),
    ("focus-z-bool", SCAN + "[focus]\nz_um = true\n", "focus.z_um"),
    ("focus-z-nan", SCAN + "[focus]\nz_um = nan\n", "focus.z_um"),
    ("focus-z-off-axis", SCAN + "[focus]\nz_um = 1e9\n", "limits"),
    ("focus-map-points", SCAN + "[focus]\nmap_points = 0\n", "map_points"),
    ("focus-surface", SCAN + "[focus]\nsurface = 'cubic'\n", "surface"),
    ("focus-metric", SCAN + "[focus]\nmetric = 'sharpness'\n", "metric"),
    ("focus-wavelength", SCAN + "[focus]\nwavelength_nm = 270\n", "wavelength_nm"),
    ("focus-sweep-zero", SCAN + "[focus]\nsweep_range_um = 0\n", "sweep_range_um"),
    ("focus-steps", SCAN + "[focus]\nsweep_steps = 2\n", "sweep_steps"),
    ("focus-fine-wide", SCAN + "[focus]\nfine_range_um = 100\n", "fine_range_um"),
    ("focus-contrast", SCAN + "[focus]\nmin_contrast = 1\n", "min_contrast"),
    ("focus-refocus", SCAN + "[focus]\nrefocus_threshold = 1\n", "refocus_threshold"),
    ("focus-typo", SCAN + "[focus]\nmod = 'map'\n", "focus.mod"),
    ("analysis-device", SCAN + "[analysis]\ndevice = 'tpu'\n", "analysis.device"),
    ("analysis-stop-zero", SCAN + "[analysis]\nstop_after_wbc = 0\n", "stop_after_wbc"),
    ("analysis-stop-bool", SCAN + "[analysis]\nstop_after_wbc = true\n", "stop_after_wbc"),
    ("analysis-typo", SCAN + "[analysis]\nenable = true\n", "analysis.enable"),
    ("not-toml", "this is not toml\n", "not valid TOML"),
    ("unclosed", "name = 'x\n", "not valid TOML"),
    ("duplicate-key", "name = 'a'\nname = 'b'\n", "not valid TOML"),
    ("binary", bytes(range(256)) * 4, "scan.toml"),
    ("utf16", SCAN.encode("utf-16"), "UTF-8"),
    ("bom-then-garbage", b"\xef\xbb\xbf" + b"this is not toml\n", "not valid TOML"),
    ("nul-bytes", SCAN.encode() + b"\0\0\0", "not valid TOML"),
    ("deeply-nested", "a = " + "[" * 50000 + "]" * 50000 + "\n", "scan.toml"),
    ("deep-tables", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "scan.toml"),
    ("empty", "", "empty"),
    ("only-comments", "# nothing here\n\n", "empty"),
    ("too-large", "# " + "x" * 1_100_000 + "\n" + SCAN, "too large"),
]


@pytest.fixture(scope="module")
def rig_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("rig") / "rig.toml"
    p.write_text(RIG)
    return p


@pytest.mark.parametrize(
    ("body", "expect"), [c[1:] for c in SCAN_CASES], ids=[c[0] for c in SCAN_CASES]
)
def test_bad_scan_file(tmp_path: Path, rig_file: Path, body: str | bytes, expect: str) -> None:
    f = tmp_path / "scan.toml"
    f.write_bytes(body if isinstance(body, bytes) else body.encode())
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(f),
            "--rig",
            str(rig_file),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--no-analysis",
        ],
    )
    _ok(r, expect)
    assert not (tmp_path / "o" / "tiles.jsonl").exists()


def test_a_byte_order_mark_is_accepted(tmp_path: Path, rig_file: Path) -> None:
    """Notepad writes UTF-8 with a BOM; the settings after it are what count."""
    f = tmp_path / "scan.toml"
    f.write_bytes(b"\xef\xbb\xbf" + SCAN.encode())
    args = ["scan", "--config", str(f), "--rig", str(rig_file), "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(main, [*args, "--quiet", "--no-analysis"])
    assert r.exit_code == 0, r.output
    assert ScanFolder.open(tmp_path / "o").read_manifest()["plan"]["tiles"] == 4


def test_scan_file_paths(tmp_path: Path, rig_file: Path) -> None:
    for path, expect in ((tmp_path / "missing.toml", "no such file"), (tmp_path, "is a directory")):
        r = CliRunner().invoke(
            main,
            [
                "scan",
                "--config",
                str(path),
                "--rig",
                str(rig_file),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ],
        )
        _ok(r, expect)


# ------------------------------------------------------------------ rig files
RIG_CASES: list[tuple[str, str | bytes, str]] = [
    ("width-zero", _sub("width_px = 160", "width_px = 0", RIG), "camera.width_px"),
    ("width-negative", _sub("width_px = 160", "width_px = -5", RIG), "camera.width_px"),
    ("width-bool", _sub("width_px = 160", "width_px = true", RIG), "camera.width_px"),
    ("width-fraction", _sub("width_px = 160", "width_px = 160.5", RIG), "camera.width_px"),
    ("width-huge", _sub("width_px = 160", "width_px = 1000000", RIG), "camera.width_px"),
    ("height-huge", _sub("height_px = 120", "height_px = 99999999", RIG), "height_px"),
    ("pixel-zero", _sub("pixel_size_um = 0.5", "pixel_size_um = 0", RIG), "pixel_size_um"),
    ("pixel-nan", _sub("pixel_size_um = 0.5", "pixel_size_um = nan", RIG), "pixel_size_um"),
    ("pixel-bool", _sub("pixel_size_um = 0.5", "pixel_size_um = true", RIG), "pixel_size_um"),
    ("pixel-inf", _sub("pixel_size_um = 0.5", "pixel_size_um = inf", RIG), "pixel_size_um"),
    ("bit-depth", RIG + "bit_depth = 20\n", "bit_depth"),
    ("exposure-range", RIG + "exposure_min_ms = 5.0\nexposure_max_ms = 1.0\n", "exposure_min_ms"),
    ("readout-negative", RIG + "readout_ms = -1\n", "readout_ms"),
    ("flip-number", RIG + "flip_x = 2\n", "flip_x"),
    ("flip-one", RIG + "flip_x = 1\n", "flip_x"),
    ("flip-word", RIG + "flip_y = 'yes'\n", "flip_y"),
    ("real-time-word", RIG + "[sim]\nreal_time = 'no'\n", "sim.real_time"),
    ("micromanager-unused", RIG + "[micromanager]\nconfig = 'x.cfg'\n", "micromanager: no device"),
    ("sim-seed-negative", RIG + "[sim]\nseed = -1\n", "sim.seed"),
    ("sim-size-zero", RIG + "[sim]\nslide_size_mm = [0, 0]\n", "sim.slide_size_mm"),
    ("sim-size-negative", RIG + "[sim]\nslide_size_mm = [25, -1]\n", "sim.slide_size_mm"),
    ("camera-backend", _sub('backend = "sim"', 'backend = "andor"', RIG), "camera.backend"),
    ("camera-typo", RIG + "pixel_size = 1\n", "camera.pixel_size"),
    ("camera-number", "camera = 5\n", "camera"),
    ("wheel-slot-bool", RIG + '[filter_wheel]\nslots = { "260" = true }\n', "slots"),
    ("wheel-slot-unknown", RIG + '[filter_wheel]\nslots = { "250" = 1 }\n', "slots"),
    ("wheel-slot-twice", RIG + '[filter_wheel]\nslots = { "260" = 1, "280" = 1 }\n', "slots"),
    ("wheel-slot-range", RIG + '[filter_wheel]\nslots = { "260" = 9 }\n', "slots"),
    ("wheel-dark-zero", RIG + "[filter_wheel]\ndark_slot = 0\n", "dark_slot"),
    ("wheel-backend", RIG + "[filter_wheel]\nbackend = 'usb'\n", "filter_wheel.backend"),
    ("wheel-retries", RIG + "[filter_wheel]\nretries = 99\n", "retries"),
    (
        "wheel-serial-no-port",
        RIG + "[filter_wheel]\nbackend = 'serial'\nport = '/dev/uvscope-no-such-port'\n",
        "/dev/uvscope-no-such-port",
    ),
    ("stage-limits-bool", RIG + "[stage]\nx_limits_mm = [true, 100]\n", "x_limits_mm"),
    ("stage-limits-nan", RIG + "[stage]\ny_limits_mm = [0, nan]\n", "y_limits_mm"),
    ("stage-velocity", RIG + "[stage]\nvelocity_mm_s = 1000\n", "velocity_mm_s"),
    ("stage-accel-zero", RIG + "[stage]\nacceleration_mm_s2 = 0\n", "acceleration_mm_s2"),
    ("stage-settle-bool", RIG + "[stage]\nsettle_ms = true\n", "settle_ms"),
    ("stage-typo", RIG + "[stage]\nspeed = 5\n", "stage.speed"),
    ("focus-limits", RIG + "[focus]\nlimits_um = [100, 0]\n", "limits_um"),
    ("focus-limits-bool", RIG + "[focus]\nlimits_um = [false, 10]\n", "limits_um"),
    ("sim-size-nan", RIG + "[sim]\nslide_size_mm = [nan, 25]\n", "slide_size_mm"),
    ("sim-size-inf", RIG + "[sim]\nslide_size_mm = [inf, 25]\n", "slide_size_mm"),
    ("sim-blank-huge", RIG + "[sim]\nblank_regions = 100000000\n", "sim.blank_regions"),
    ("sim-blank-negative", RIG + "[sim]\nblank_regions = -1\n", "blank_regions"),
    ("sim-seed-bool", RIG + "[sim]\nseed = true\n", "seed"),
    ("sim-tilt-bool", RIG + "[sim]\ntilt_um_per_mm = [true, 0]\n", "tilt_um_per_mm"),
    ("sim-focus-nan", RIG + "[sim]\nfocus_z_um = nan\n", "focus_z_um"),
    ("sim-typo", RIG + "[sim]\nsede = 1\n", "sim.sede"),
    ("section-typo", RIG + "[camra]\nwidth_px = 5\n", "camra"),
    ("name-number", _sub('name = "small simulated rig"', "name = 1", RIG), "name"),
    ("empty", "", "empty"),
    ("binary", b"\x00\xff\xfe" * 300, "rig.toml"),
    ("utf16", RIG.encode("utf-16"), "UTF-8"),
    ("not-toml", "[camera\n", "not valid TOML"),
]


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("scan") / "scan.toml"
    p.write_text(SCAN)
    return p


@pytest.mark.parametrize(
    ("body", "expect"), [c[1:] for c in RIG_CASES], ids=[c[0] for c in RIG_CASES]
)
def test_bad_rig_file(tmp_path: Path, scan_file: Path, body: str | bytes, expect: str) -> None:
    f = tmp_path / "rig.toml"
    f.write_bytes(body if isinstance(body, bytes) else body.encode())
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(scan_file),
            "--rig",
            str(f),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--no-analysis",
        ],
    )
    _ok(r, expect)
    assert not (tmp_path / "o" / "tiles.jsonl").exists()


# ------------------------------------------------------------------ batch files
BATCH_CASES: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "empty"),
    ("no-scans", "rig = 'rig.toml'\n", "scans"),
    ("scans-empty-table", "[[scans]]\n", "scans.0.config"),
    ("scans-number", "scans = 5\n", "scans"),
    ("entry-typo", "[[scans]]\nconfig = 'scan.toml'\nouput = 'x'\n", "ouput"),
    ("config-number", "[[scans]]\nconfig = 5\n", "config"),
    ("binary", b"\xff\xfe\x00" * 100, "batch.toml"),
    ("utf16", "[[scans]]\nconfig = 'scan.toml'\n".encode("utf-16"), "UTF-8"),
    ("not-toml", "[[scans]\n", "not valid TOML"),
    ("top-typo", "rigs = 'x'\n[[scans]]\nconfig = 'scan.toml'\n", "rigs"),
]


@pytest.mark.parametrize(
    ("body", "expect"), [c[1:] for c in BATCH_CASES], ids=[c[0] for c in BATCH_CASES]
)
def test_bad_batch_file(tmp_path: Path, body: str | bytes, expect: str) -> None:
    f = tmp_path / "batch.toml"
    f.write_bytes(body if isinstance(body, bytes) else body.encode())
    r = CliRunner().invoke(main, ["batch", str(f), "--quiet"])
    _ok(r, expect)


def test_batch_entry_with_a_bad_scan_fails_that_entry_naming_it(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("exposure = 5\n")
    (tmp_path / "batch.toml").write_text(
        "[[scans]]\nconfig = 'bad.toml'\nout = 'o'\n[[scans]]\nconfig = 'missing.toml'\nout = 'p'\n"
    )
    r = CliRunner().invoke(main, ["batch", str(tmp_path / "batch.toml"), "--quiet"])
    _ok(r, "0 ok, 2 failed", code=1)
    assert "bad.toml" in r.output and "missing.toml" in r.output


# ------------------------------------------------------------------ damaged scan folders
@pytest.fixture(scope="module")
def finished_scan(
    tmp_path_factory: pytest.TempPathFactory, rig_file: Path, scan_file: Path
) -> Path:
    out = tmp_path_factory.mktemp("done") / "scan"
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(scan_file),
            "--rig",
            str(rig_file),
            "--out",
            str(out),
            "--quiet",
            "--no-analysis",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


def _manifest_edit(fn):
    def apply(folder: Path) -> None:
        m = json.loads((folder / "manifest.json").read_text())
        fn(m)
        (folder / "manifest.json").write_text(json.dumps(m))

    return apply


def _write(rel: str, data: bytes):
    def apply(folder: Path) -> None:
        p = folder / rel
        if p.is_dir():
            shutil.rmtree(p)
        p.write_bytes(data)

    return apply


def _make_dir(rel: str):
    def apply(folder: Path) -> None:
        p = folder / rel
        p.unlink(missing_ok=True)
        p.mkdir()

    return apply


def _truncate(rel: str, keep: int):
    def apply(folder: Path) -> None:
        p = folder / rel
        p.write_bytes(p.read_bytes()[:keep])

    return apply


FOLDER_CASES = [
    ("manifest-null", _write("manifest.json", b"null"), "manifest.json"),
    ("manifest-garbage", _write("manifest.json", b"\x00\x01garbage"), "manifest.json"),
    ("manifest-truncated", _truncate("manifest.json", 200), "manifest.json"),
    ("manifest-empty", _write("manifest.json", b""), "manifest.json"),
    ("manifest-list", _write("manifest.json", b"[1, 2]"), "manifest.json"),
    ("manifest-utf16", _write("manifest.json", '{"format": 1}'.encode("utf-16")), "manifest.json"),
    ("manifest-deep", _write("manifest.json", b"[" * 100000 + b"]" * 100000), "manifest.json"),
    ("manifest-folder", _make_dir("manifest.json"), "manifest.json"),
    ("manifest-missing", lambda f: (f / "manifest.json").unlink(), "not a scan folder"),
    ("format-other", _manifest_edit(lambda m: m.update(format="zeiss")), "not a uvscope"),
    ("version-99", _manifest_edit(lambda m: m.update(format_version=99)), "format version 99"),
    ("no-rig", _manifest_edit(lambda m: m.pop("rig")), "'rig'"),
    ("rig-null", _manifest_edit(lambda m: m.update(rig=None)), "'rig'"),
    ("rig-number", _manifest_edit(lambda m: m.update(rig=5)), "rig"),
    (
        "rig-invalid",
        _manifest_edit(lambda m: m["rig"]["camera"].update(width_px=-1)),
        "camera.width_px",
    ),
    ("no-config", _manifest_edit(lambda m: m.pop("config")), "'config'"),
    ("config-string", _manifest_edit(lambda m: m.update(config="x")), "config"),
    (
        "config-invalid",
        _manifest_edit(lambda m: m["config"]["wavelengths"][0].update(exposure_ms=True)),
        "exposure_ms",
    ),
    ("no-plan", _manifest_edit(lambda m: m.pop("plan")), "'plan'"),
    ("plan-count", _manifest_edit(lambda m: m["plan"].update(tiles=99)), "99 tiles"),
    (
        "plan-moved",
        _manifest_edit(lambda m: m["plan"]["positions"][1].__setitem__(3, 0.0)),
        "tile 1 was planned",
    ),
    ("backgrounds-string", _manifest_edit(lambda m: m.update(backgrounds="x")), "backgrounds"),
    ("backgrounds-numbers", _manifest_edit(lambda m: m.update(backgrounds=[1, 2])), "backgrounds"),
    ("journal-folder", _make_dir("tiles.jsonl"), "tiles.jsonl"),
    ("events-folder", _make_dir("events.jsonl"), "events.jsonl"),
]


@pytest.mark.parametrize(
    ("damage", "expect"), [c[1:] for c in FOLDER_CASES], ids=[c[0] for c in FOLDER_CASES]
)
def test_damaged_scan_folder_on_resume(
    tmp_path: Path, finished_scan: Path, damage, expect: str
) -> None:
    folder = tmp_path / "scan"
    shutil.copytree(finished_scan, folder)
    damage(folder)
    r = CliRunner().invoke(main, ["scan", "--resume", str(folder), "--quiet", "--no-analysis"])
    _ok(r, expect)


def test_resume_paths(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["scan", "--resume", str(tmp_path / "nope"), "--quiet"])
    _ok(r, "does not exist")
    r = CliRunner().invoke(main, ["scan", "--resume", str(tmp_path), "--quiet"])
    _ok(r, "not a scan folder")
    (tmp_path / "f").write_text("x")
    r = CliRunner().invoke(main, ["scan", "--resume", str(tmp_path / "f"), "--quiet"])
    _ok(r, "is a file")


# ------------------------------------------------------------------ analysis results
GOOD_DIFF = {"differential": {"classes": [], "total": 0}, "tiles": {}}

REPORT_CASES = [
    ("no-analysis", None, None, "no analysis results"),
    ("diff-garbage", b"\x00garbage", None, "differential.json"),
    ("diff-null", b"null", None, "differential.json"),
    ("diff-list", b"[]", None, "differential.json"),
    ("diff-truncated", json.dumps(GOOD_DIFF).encode()[:20], None, "differential.json"),
    ("diff-utf16", json.dumps(GOOD_DIFF).encode("utf-16"), None, "differential.json"),
    ("diff-no-differential", b'{"tiles": {}}', None, "differential.json"),
    ("diff-differential-number", b'{"differential": 5}', None, "differential.json"),
    ("diff-classes-string", b'{"differential": {"classes": "x"}}', None, "differential.json"),
    (
        "diff-class-fields",
        b'{"differential": {"classes": [{"name": 1}]}}',
        None,
        "differential.json",
    ),
    ("cells-binary", json.dumps(GOOD_DIFF).encode(), b"\xff\xfe\x00\x01" * 50, "cells.csv"),
    ("cells-folder", json.dumps(GOOD_DIFF).encode(), "dir", "cells.csv"),
]


@pytest.mark.parametrize(
    ("diff", "cells", "expect"), [c[1:] for c in REPORT_CASES], ids=[c[0] for c in REPORT_CASES]
)
def test_damaged_analysis_for_report(
    tmp_path: Path, finished_scan: Path, diff, cells, expect: str
) -> None:
    folder = tmp_path / "scan"
    shutil.copytree(finished_scan, folder)
    if diff is not None:
        (folder / "analysis").mkdir()
        (folder / "analysis" / "differential.json").write_bytes(diff)
    if cells == "dir":
        (folder / "analysis" / "cells.csv").mkdir()
    elif cells is not None:
        (folder / "analysis" / "cells.csv").write_bytes(cells)
    r = CliRunner().invoke(main, ["report", str(folder)])
    _ok(r, expect)


def test_report_with_a_damaged_manifest_names_it(tmp_path: Path, finished_scan: Path) -> None:
    folder = tmp_path / "scan"
    shutil.copytree(finished_scan, folder)
    (folder / "analysis").mkdir()
    (folder / "analysis" / "differential.json").write_text(json.dumps(GOOD_DIFF))
    (folder / "manifest.json").write_bytes(b"{garbage")
    r = CliRunner().invoke(main, ["report", str(folder)])
    _ok(r, "manifest.json")


def test_an_unexpected_error_is_one_line_and_a_saved_traceback(tmp_path: Path, monkeypatch) -> None:
    import uvscope.cli.scan as scan_cli

    def boom(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(scan_cli, "run_one", boom)
    monkeypatch.setenv("UVSCOPE_LOG_DIR", str(tmp_path / "logs"))
    r = CliRunner().invoke(main, ["scan", "--quiet"])
    _ok(r, "unexpected RuntimeError: a bug", bug=True)
    (log,) = (tmp_path / "logs").iterdir()
    assert str(log) in " ".join(r.output.split()).replace(" ", "") or log.name in r.output
    assert "Traceback" in log.read_text() and "boom" in log.read_text()


# ------------------------------------------------------------------ weights
WEIGHTS = Path(__file__).resolve().parents[2] / "uvscope" / "models" / "weights"


def _weights_garbage_card(d: Path) -> None:
    for m in ("segment", "stain", "classify"):
        shutil.copy(WEIGHTS / f"{m}.safetensors", d)
        (d / f"{m}.json").write_text("garbage {")


def _weights_garbage_tensors(d: Path) -> None:
    for m in ("segment", "stain", "classify"):
        (d / f"{m}.safetensors").write_bytes(b"\x00\x01" * 64)


def _weights_wrong_kind(d: Path) -> None:
    for m in ("segment", "stain", "classify"):
        shutil.copy(WEIGHTS / f"{m}.safetensors", d)
    (d / "segment.json").write_text('{"arch": 5}')


WEIGHT_CASES = [
    ("missing", lambda d: None, "segment weights"),
    ("garbage-card", _weights_garbage_card, "segment.json"),
    ("garbage-tensors", _weights_garbage_tensors, "segment.safetensors"),
    ("card-wrong-kind", _weights_wrong_kind, "segment"),
]


@pytest.mark.parametrize(
    ("make", "expect"), [c[1:] for c in WEIGHT_CASES], ids=[c[0] for c in WEIGHT_CASES]
)
def test_bad_model_weights(tmp_path: Path, rig_file: Path, make, expect: str) -> None:
    d = tmp_path / "weights"
    d.mkdir()
    make(d)
    f = tmp_path / "scan.toml"
    f.write_text(SCAN + f"[analysis]\nenabled = true\nmodels = '{d}'\n")
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(f),
            "--rig",
            str(rig_file),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ],
    )
    _ok(r, expect)
    assert not (tmp_path / "o" / "manifest.json").exists()
