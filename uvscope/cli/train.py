"""`uvscope train` and `uvscope evaluate`: fit and measure the analysis networks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

KINDS = click.Choice(["segment", "stain", "classify"])
#: train also fits the red-cell morphology network (a folder of red-cell crops per class)
TRAIN_KINDS = click.Choice(["segment", "stain", "classify", "rbc"])


#: own-data options shared by train and evaluate (one definition, one help text)
_pixel_size_option = click.option(
    "--pixel-size-um",
    type=float,
    default=None,
    help="Own data: um per pixel of the images (else pixel_size_um in DIR/dataset.toml).",
)
_modality_option = click.option(
    "--modality",
    type=click.Choice(["uv260", "rgb-stained"]),
    default=None,
    help="Own data: what the images are (else modality in DIR/dataset.toml; default "
    "rgb-stained for images with masks).",
)


@click.command("train")
@click.argument("kind", type=TRAIN_KINDS)
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    multiple=True,
    help="A `uvscope simulate` dataset; own images with masks (DIR/images + DIR/masks or "
    "DIR/cells + DIR/nuclei, optional classes.csv, groups.csv, dataset.toml); for classify a "
    "folder of crops per class, or analysed scan folders with reviewed labels (repeat --data "
    "for each scan; split by slide); for rbc a folder of red-cell crops per class "
    "(DIR/<class>/NAME.tif, docs/whole-smear.md).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for <kind>.safetensors, its model card and the resumable checkpoint.",
)
@click.option(
    "--size",
    type=click.Choice(["small", "paper"]),
    default="small",
    show_default=True,
    help="small: fits 2 CPU cores; paper: the paper-sized network for a GPU.",
)
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--steps", type=int, default=None, help="Batches per epoch (segment/stain).")
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--backbone",
    type=click.Choice(["resnet18", "wnet", "wbcsnet2", "urnet"]),
    default=None,
    help="Classifier feature extractor (classify only); urnet: ResUNet enhancer with SE "
    "attention before the ResNet-18, pre-trained as an identity map, then trained end to end.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override an architecture field of the preset, e.g. --set base_width=16, "
    "--set lightness=input (stain: L is the 260 nm image itself, as in the paper) "
    "(repeatable).",
)
@_pixel_size_option
@_modality_option
@click.option(
    "--folds", type=int, default=5, show_default=True, help="Own data: k of the k-fold split."
)
@click.option(
    "--fold",
    type=int,
    default=0,
    show_default=True,
    help="Own data: the held-out test fold (the next fold validates).",
)
@click.option(
    "--classifier-input",
    type=click.Choice(["composite", "rgb-crop"]),
    default=None,
    help="Own data / crop folders: the paper's composite crop cut from the masks (the "
    "analysis's input; default for uv260) or the whole colour image (default otherwise).",
)
@click.option(
    "--colour-normalisation",
    "colour_norm",
    type=click.Choice(["percentile", "gray", "stain"]),
    default=None,
    help="Colour crops (rgb-crop input) only: percentile (each channel stretched, the "
    "default), gray (luma stretched: no hue), stain (Macenko-style: the crop's two stains "
    "re-composed in fixed reference colours). Recorded in the card; evaluate applies it.",
)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of a failed run.")
@click.option(
    "--init",
    default=None,
    help="Fine-tune from this .safetensors ('default' = the shipped weights, 'none' = from "
    "scratch): segment: cosine learning-rate decay, and the start weights are kept unless "
    "validation improves. Own images with masks fine-tune the shipped weights by default "
    "where the architecture matches.",
)
@click.option(
    "--lr",
    type=float,
    default=None,
    help="Learning rate (segment: default 3e-3; classify: default 1e-3).",
)
@click.option(
    "--class-weight",
    "class_weight",
    multiple=True,
    help="Classify: draw a class this many times as often as the balanced sampler would, "
    "NAME=FACTOR, repeatable (e.g. neutrophil=3: fewer neutrophils called bands).",
)
@click.option(
    "--crops",
    type=click.Choice(["truth", "segmented"]),
    default="truth",
    show_default=True,
    help="Classify on a simulator export: crops from the simulator's masks only (truth), or "
    "also every cell cut with the shipped segmentation's masks as the analysis cuts them "
    "(segmented: validated on those, so it learns the crops it will see on a scan).",
)
@click.option(
    "--nucleus-weight",
    type=float,
    default=1.0,
    show_default=True,
    help="Weight of the nucleus output in the segmentation loss (cell output has 1).",
)
def train(
    kind: str,
    data: tuple[Path, ...],
    out: Path,
    size: str,
    epochs: int,
    steps: int | None,
    device: str,
    seed: int,
    backbone: str | None,
    overrides: tuple[str, ...],
    resume: bool,
    init: str | None,
    lr: float | None,
    nucleus_weight: float,
    crops: str,
    class_weight: tuple[str, ...],
    pixel_size_um: float | None,
    modality: str | None,
    folds: int,
    fold: int,
    classifier_input: str | None,
    colour_norm: str | None = None,
) -> None:
    """Train a segment, stain, classify or rbc (red-cell morphology) model; the best epoch on
    validation is kept.

    The data are checked before anything is written; files appear in --out only when the
    run succeeds.
    """
    if kind == "rbc":
        _train_rbc(data, out, epochs, seed, folds, fold)
        return
    from uvscope.analysis.trainset import is_scan_folder
    from uvscope.models.pipeline import OwnOptions, run_training

    scans = [d for d in data if is_scan_folder(d)]
    if len(data) > 1 and len(scans) != len(data):
        raise click.BadParameter(
            "several --data folders must all be analysed scan folders", param_hint="--data"
        )
    run_training(
        kind,
        data[0],
        out,
        size,
        epochs,
        device,
        seed,
        resume,
        backbone,
        log=_log,
        steps_per_epoch=steps,
        overrides=_parse_overrides(overrides),
        init=init,
        lr=lr,
        nucleus_weight=nucleus_weight,
        own=OwnOptions(
            pixel_size_um, modality, folds, fold, classifier_input, colour_norm=colour_norm
        ),
        scan_crops=_scan_crops(scans) if scans else None,
        sim_crops=_segmented_crops(device) if crops == "segmented" else None,
        class_weights=_parse_weights(class_weight),
    )


def _parse_weights(items: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for it in items:
        name, sep, value = it.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(
                f"{it!r}: give NAME=FACTOR, e.g. neutrophil=3", param_hint="--class-weight"
            )
    return out


def _train_rbc(
    data: tuple[Path, ...], out: Path, epochs: int, seed: int, folds: int, fold: int
) -> None:
    """A crop folder, or analysed scans whose red cells were reviewed (one slide each)."""
    from uvscope.analysis.trainset import is_scan_folder
    from uvscope.models.train_rbc import run_rbc_training

    scans = [d for d in data if is_scan_folder(d)]
    if len(data) > 1 and len(scans) != len(data):
        raise click.BadParameter(
            "several --data folders must all be analysed scan folders", param_hint="--data"
        )
    crops = None
    if scans:
        from uvscope.analysis.rbc_trainset import reviewed_rbc_crops

        def crops(size: int, px: float):  # type: ignore[no-untyped-def]
            return reviewed_rbc_crops(scans, size, px)

    cmd = " ".join(sys.argv)
    run_rbc_training(data[0], out, epochs, seed, folds, fold, _log, cmd, crops)


def _log(line: str) -> None:
    """Training's progress on stdout; its warnings (data left out, a doubtful pixel size)
    stand out on stderr."""
    if line.startswith("warning:"):
        click.secho(line, fg="yellow", err=True)
    else:
        click.echo(line)


def _scan_crops(scans: list[Path]):  # type: ignore[no-untyped-def]
    """The reviewed cells of ``scans``, cut as the analysis cuts them (analysis room)."""
    from uvscope.analysis.trainset import reviewed_crops

    return lambda size, px: reviewed_crops(scans, size, px)


def _segmented_crops(device: str):  # type: ignore[no-untyped-def]
    """An export's cells cut with the shipped segmentation's masks (analysis room)."""
    from uvscope.analysis.models import load_models
    from uvscope.analysis.pipeline import TilePipeline
    from uvscope.analysis.settings import load_settings
    from uvscope.analysis.sim_trainset import pipeline_crops

    pipe = TilePipeline(load_models("default", None, "default", device), load_settings(None))
    return lambda tiles, px: pipeline_crops(pipe, tiles, px)


def _parse_overrides(items: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--set")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


@click.command("evaluate")
@click.argument("kind", type=KINDS)
@click.option(
    "--data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option(
    "--weights",
    default="default",
    show_default=True,
    help="A .safetensors file (with its .json card) or 'default' for the shipped weights.",
)
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train", "all"]),
    default="test",
    show_default=True,
    help="Which donors of a simulated dataset to score; own data: the fold the weights held "
    "out when trained on this folder, else all images (crop folders: all images).",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@_pixel_size_option
@_modality_option
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate(
    kind: str,
    data: Path,
    weights: str,
    split: str,
    device: str,
    pixel_size_um: float | None,
    modality: str | None,
    as_json: bool,
) -> None:
    """Print the metrics of a model on held-out data (Dice, MS-SSIM or per-class tables),
    beside a baseline (Otsu thresholds, the majority class) for own data."""
    from uvscope.models.pipeline import OwnOptions, run_evaluation

    res = run_evaluation(kind, data, weights, device, split, OwnOptions(pixel_size_um, modality))
    for warning in res.get("warnings", []):
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if as_json:
        click.echo(json.dumps(res, indent=2, default=str))
        return
    for k, v in res.items():
        if isinstance(v, float):
            click.echo(f"{k:28s} {v:.4f}")
        elif k in ("five_part", "dead") and isinstance(v, dict):
            click.echo(f"\n{k}:")
            click.echo(_table(v))
        elif k == "majority_class_baseline" and isinstance(v, dict):
            click.echo(
                f"\nmajority-class baseline ({v['class']}): accuracy {v['accuracy']:.4f}, "
                f"balanced accuracy {v['balanced_accuracy']:.4f}, macro F1 {v['macro_f1']:.4f}"
            )
        elif not isinstance(v, (dict, list)):
            click.echo(f"{k:28s} {v}")


def _table(rep: dict[str, Any]) -> str:
    rows = [f"{'class':12s} {'n':>5s} {'prec':>6s} {'recall':>6s} {'spec':>6s} {'F1':>6s}"]
    for name, m in rep["per_class"].items():
        rows.append(
            f"{name:12s} {m['support']:5d} {m['precision']:6.3f} {m['recall']:6.3f} "
            f"{m['specificity']:6.3f} {m['f1']:6.3f}"
        )
    mac = rep["macro"]
    rows.append(
        f"{'macro':12s} {int(mac.get('n_classes', 0)):5d} {mac['precision']:6.3f} "
        f"{mac['recall']:6.3f} {mac['specificity']:6.3f} {mac['f1']:6.3f}"
    )
    rows.append(
        "(macro over the classes present; n = how many)\n"
        f"accuracy {rep['accuracy']:.4f}; confusion (rows truth, columns "
        f"{', '.join(rep.get('class_order', []))}) {rep['confusion']}"
    )
    return "\n".join(rows)
