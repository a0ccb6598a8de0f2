# ruff: noqa: E501  (long Markdown lines of the generated page)
"""Evaluate the shipped models on held-out simulated donors, time CPU inference on a full
1392 x 1040 tile, and write docs/evaluation.md (a generated page: do not edit by hand).

    PYTHONPATH=. python -m uvscope.models.simgen --out data/sim
    PYTHONPATH=. python benchmarks/bench_models.py --data data/sim [--bccd-json bccd.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from uvscope.errors import ModelError
from uvscope.models.pipeline import run_evaluation
from uvscope.models.predict import load_classifier, load_segmenter, load_stainer
from uvscope.models.preprocess import bin2x2, contrast_stretch
from uvscope.models.registry import WEIGHTS_DIR, read_card

ROOT = Path(__file__).resolve().parents[1]
PAPER = {
    "cell Dice": "0.9899",
    "nucleus Dice": "0.9718",
    "dead vs healthy accuracy": "98.76 %",
    "five-part accuracy": "94.02 %",
    "staining MS-SSIM": "0.9125",
}
TARGET = {
    "cell Dice": ">= 0.98",
    "nucleus Dice": ">= 0.96",
    "dead vs healthy accuracy": ">= 98 %",
    "five-part accuracy": ">= 95 %",
    "staining MS-SSIM": ">= 0.92",
}


DEVIATIONS = [
    "## Where uvscope departs from the papers, and why",
    "",
    "- Nothing pretrained can be downloaded, so the ResNet-18 is trained from scratch, jointly",
    "  with both MLP heads (the paper froze an ImageNet ResNet-18). The small model uses width 16",
    "  (128 features instead of 512); `--size paper` gives the standard width 64 and 512 features.",
    "- Segmentation is one U-Net with two outputs (cell, nucleus) sharing the encoder and decoder",
    "  instead of two networks; each level has an extra 3x3 convolution, which helps the narrow",
    "  CPU-sized network. Analysis runs at 0.32 um/px (2x2-binned camera pixels).",
    "- The discriminator pools to 2x2 before its fully connected layer (any patch size works)",
    "  and returns logits; the sigmoid sits inside the loss (same function, numerically stable).",
    "- WBCsNet-2 uses global average pooling before FC 512 (a full flatten would cost tens of",
    "  millions of parameters at these crop sizes).",
    "- The dead-cell checkpoint's thresholds are the 2nd-98th percentile ranges of healthy",
    "  training cells (cell area, mean gray, nucleus Euler number and area); it is switched on",
    "  only if it improves dead/healthy accuracy on the validation donors.",
    "- The five-part head averages its probabilities over the 8 rotations and mirrors of each",
    "  crop (test-time augmentation; a cell has no orientation). Chosen on 8 validation donors",
    "  (607 cells, none used in training or test): 95.88 % with the averaging, 95.39 % from one",
    "  view. The dead/healthy head sees the crop as it is (averaging it lowered validation",
    "  accuracy for the classifier shipped before, and left this one's unchanged).",
    "- Segmentation is trained on the fraction of each binned pixel that the mask covers (soft",
    "  targets on the binned image's pixel grid), so boundaries are learned to a fraction of a pixel.",
    "- Staining: L passes through a lightness curve fitted on the training pairs (see above), and",
    "  the post-processing offsets are chosen on the validation donors from a grid that includes",
    "  the paper's +0.02 RGB / +0.07 value (the paper's values balanced its own ground truth).",
    "- All figures here come from simulated donors; the paper's come from 23 real donors.",
    "",
]


def staining_ceiling(data: Path, donors: list[str]) -> dict[str, float] | None:
    """MS-SSIM with perfect colour: the *true* a, b beside the L each scheme gives.

    "paper": L is the 260 nm image, with the paper's post-processing offsets; "shipped": L from
    the shipped model's lightness (its fitted curve, if any) and its chosen offsets. These bound
    what any generator that predicts only a and b can score under each scheme.
    """
    from uvscope.models.metrics import msssim_rgb
    from uvscope.models.patches import grid_patches
    from uvscope.models.simdata import load_split, open_dataset
    from uvscope.models.stain import StainGenerator, lab_norm_to_rgb, postprocess, rgb_to_lab_norm

    try:
        st = load_stainer("default", device="cpu")
    except ModelError:
        return None
    tiles = [
        t.tile for t in load_split(open_dataset(data), donors, st.pixel_size_um, with_rgb=True)
    ]
    x, y = grid_patches(tiles, st.patch_size, with_rgb=True)
    _, ym = grid_patches(tiles, st.patch_size)
    keep = ym[:, 0].reshape(len(ym), -1).mean(1) >= 0.01
    ab = rgb_to_lab_norm(torch.from_numpy(y[keep]))[:, 1:]
    gray = torch.from_numpy(x[keep])
    shipped_l = StainGenerator.from_config(st.cfg).lightness(gray)
    out = {}
    for name, light, offsets in (
        ("paper", gray, (0.02, 0.07)),
        ("shipped", shipped_l, (st.cfg.rgb_offset, st.cfg.value_offset)),
    ):
        rgb = postprocess(lab_norm_to_rgb(light, ab), *offsets)
        out[name] = msssim_rgb(rgb.numpy(), y[keep])[0]
    return out


def time_tile(threads: int, repeats: int = 2) -> dict[str, float]:
    """Seconds per 1392 x 1040 tile on CPU: preprocessing + 2x2 binning, each network."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    raw = rng.random((1040, 1392)).astype(np.float32)
    out: dict[str, float] = {}
    t = time.perf_counter()
    img = contrast_stretch(bin2x2(raw))[None]
    out["preprocess"] = time.perf_counter() - t
    for name, loader in (("segment", load_segmenter), ("stain", load_stainer)):
        try:
            model = loader("default", device="cpu")
        except ModelError:
            continue
        model.predict(img)  # warm-up
        t = time.perf_counter()
        for _ in range(repeats):
            model.predict(img)
        out[name] = (time.perf_counter() - t) / repeats
    try:
        clf = load_classifier("default", device="cpu")
        crops = rng.random((12, 3, clf.crop_size, clf.crop_size)).astype(np.float32)
        clf.predict(crops)
        t = time.perf_counter()
        clf.predict(crops)
        out["classify (12 cells)"] = time.perf_counter() - t
    except ModelError:
        pass
    return out


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "not measured"
    return f"{100 * v:.2f} %" if pct else f"{v:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="dataset from uvscope.models.simgen")
    ap.add_argument(
        "--bccd-json", type=Path, default=None, help="output of bench_bccd_cv.py --json"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "evaluation.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res: dict[str, dict] = {}
    for kind in ("segment", "classify", "stain"):
        try:
            res[kind] = run_evaluation(kind, args.data, "default", "cpu", "test")
            print(kind, json.dumps({k: v for k, v in res[kind].items() if isinstance(v, float)}))
        except ModelError as err:
            print(f"{kind}: {err}")
    seg, cls, st = res.get("segment", {}), res.get("classify", {}), res.get("stain", {})
    ours = {
        "cell Dice": _fmt(seg.get("cell_dice")),
        "nucleus Dice": _fmt(seg.get("nucleus_dice")),
        "dead vs healthy accuracy": _fmt(cls.get("dead_accuracy"), True),
        "five-part accuracy": _fmt(cls.get("five_part_accuracy"), True),
        "staining MS-SSIM": _fmt(st.get("msssim")),
    }
    timing = time_tile(args.threads)
    print("timing", timing)
    donors = seg.get("donors") or cls.get("donors") or st.get("donors")
    lines = [
        "# Evaluation of the shipped models",
        "",
        "Own labelled images (real stained cells: 5-fold segmentation, cross-source classification):",
        "`docs/own-data-evaluation.md`.",
        "Whole scans at the size of a differential (200 WBCs, default settings, against the",
        "simulator's truth for the scanned region): `docs/differential-evaluation.md`.",
        "",
        "Generated by `benchmarks/bench_models.py`; numbers measured, not copied. The shipped weights",
        "were trained on **simulated** data (`uvscope.models.simgen` over `uvscope.sim.SimWorld`), so",
        "these figures say how well the small networks learn the simulator, not how they do on real",
        "deep-UV images. Retrain on your own labelled scans before trusting them (see",
        "`uvscope/models/weights/README.md`).",
        "",
        f"Test set: held-out simulated donors {donors} (profiles and seeds never used in training);",
        "model choice on separate validation donors, never on test. Dice is computed per test tile",
        "(a 61 x 61 um field, 192 x 192 px at 0.32 um/px, segmented whole as the analysis runs) and",
        "averaged over tiles that contain cells; MS-SSIM over non-overlapping 128-px test patches that",
        "contain cells (the paper's test images contain WBCs). Segmentation targets are the fraction",
        "of each binned pixel the simulator's mask covers, thresholded at one half.",
        "",
        "| metric | paper 000 | target | uvscope small model |",
        "|---|---|---|---|",
    ]
    for k in PAPER:
        lines.append(f"| {k} | {PAPER[k]} | {TARGET[k]} | {ours[k]} |")
    ceiling = staining_ceiling(args.data, list(donors)) if donors else None
    if ceiling is not None:
        lines += [
            "",
            "Staining lightness: the paper keeps the 260 nm image itself as L and predicts a and b. "
            "With the *true* a and b, that scheme (plus the paper's post-processing) scores "
            f"{ceiling['paper']:.4f} MS-SSIM on these patches: the simulator's Giemsa-like lightness "
            "is another function of the 260 nm image, so no a, b generator reaches 0.92 that way. The "
            "shipped model keeps the scheme (L from the input, a and b predicted) but passes the input "
            "through a monotone lightness curve fitted on the training pairs before training "
            f'(`lightness = "fitted"`); with true a and b it would score {ceiling["shipped"]:.4f}. '
            "`--set lightness=input` trains the paper's exact scheme.",
        ]
    lines += [
        "",
        "Same metrics on every test tile or patch, including empty ones: cell Dice "
        f"{_fmt(seg.get('cell_dice_all_tiles'))}, nucleus Dice {_fmt(seg.get('nucleus_dice_all_tiles'))}, "
        f"MS-SSIM {_fmt(st.get('msssim_all_patches'))} (R {_fmt(st.get('msssim_r'))}, G {_fmt(st.get('msssim_g'))}, "
        f"B {_fmt(st.get('msssim_b'))}).",
        "",
    ]
    if "five_part" in cls:
        from uvscope.models.metrics import ClassReport

        fp = cls["five_part"]
        rep = ClassReport(
            tuple(fp["class_order"]),
            np.array(fp["confusion"]),
            fp["accuracy"],
            *(
                np.array([fp["per_class"][n][m] for n in fp["class_order"]])
                for m in ("precision", "recall", "specificity", "f1", "support")
            ),
            macro=fp["macro"],
        )
        lines += [
            "## Five-part classification on held-out simulated donors",
            "",
            rep.markdown(),
            "",
        ]
    lines += [
        "## Training",
        "",
        "| model | parameters | file size | training time | machine | command |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("segment", "classify", "stain"):
        p = WEIGHTS_DIR / f"{kind}.safetensors"
        if p.exists():
            c = read_card(p)
            cmd = f"`{c['command']}`"
            init = c.get("init") or {}
            while init:  # a fine-tune: name the runs it started from, newest first
                cmd += f", fine-tuning `{init.get('command')}`"
                init = init.get("init") or {}
            lines.append(
                f"| {kind} | {c['n_parameters']:,} | {c['file_size_bytes'] / 1e6:.2f} MB | "
                f"{c['training_seconds'] / 60:.1f} min | {c['machine']} | {cmd} |"
            )
    lines += [
        "",
        "Data path in the commands: `/tmp/mt/sim2` is the default `python -m uvscope.models.simgen` "
        "export (56 s on 2 cores).",
    ]
    ck = WEIGHTS_DIR / "classify.safetensors"
    if ck.exists() and read_card(ck).get("checkpoint"):
        c = read_card(ck)["checkpoint"]
        lines += [
            "",
            f"Dead-cell checkpoint: fitted, enabled = {c['enabled']} (validation dead/healthy accuracy "
            f"{c['val_dead_accuracy_without']:.4f} without, {c['val_dead_accuracy_with']:.4f} with it).",
        ]
    lines += [
        "",
        f"## Inference time per 1392 x 1040 tile (CPU, {args.threads} threads, shared machine)",
        "",
        "The tile is 2x2-binned to 696 x 520 (0.32 um/px) and processed whole (fully convolutional).",
        "Training and timing ran on 2 CPU cores shared with other busy processes, so times are",
        "pessimistic and vary from run to run.",
        "",
        "| step | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.3f} |" for k, v in timing.items()]
    lines += ["", "No GPU was available to this run, so no GPU timing is reported.", ""]
    lines += DEVIATIONS
    if args.bccd_json and args.bccd_json.exists():
        from uvscope.models.metrics import ClassReport

        b = json.loads(args.bccd_json.read_text())
        rep = ClassReport(
            tuple(b["class_order"]),
            np.array(b["confusion"]),
            b["accuracy"],
            *(
                np.array([b["per_class"][n][m] for n in b["class_order"]])
                for m in ("precision", "recall", "specificity", "f1", "support")
            ),
            macro=b["macro"],
        )
        lines += [
            "## Real data check: BCCD stained crops, stratified 5-fold CV",
            "",
            "351 real Giemsa/Wright-stained RGB crops (BCCD dataset, MIT licence, crops by apple2373/BCCD);",
            "this checks the train-on-your-own-folder path, **not** the deep-UV task. "
            f"Backbone {b['backbone']} width {b['width']}, trained from scratch, {b['epochs']} epochs per fold, "
            f"{b['seconds'] / 60:.1f} min in all; pooled over the 5 test folds:",
            "",
            rep.markdown(),
            "",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
