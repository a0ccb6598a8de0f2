"""Cross-source classification between two labs' stained cells, per colour normalisation.

    python benchmarks/bench_cross_source.py --runs /tmp/xs --epochs 30 \
        --bccd ../shared/data/bccd-wbc-crops --zheng ../shared/data/zheng-wbc-d1
    python benchmarks/bench_cross_source.py --runs /tmp/xs --summary-only

For each method of uvscope.models.colournorm (applied to training and test crops alike):
- across sources: trained on one whole set (stratified 80/20 train / validation for model
  choice), scored on every cell of the other;
- within a source: stratified k-fold, validation from the training folds, pooled over the
  test folds (the check that a normalisation does not cost within-source accuracy).
Colour crops as the CLI makes them: bccd crops resized to 64 px, zheng cut to 1.3 cell
diameters around the masked cell; ResNet-18 width 16 from scratch, the colour-crop
augmentation, class-balanced sampling. Results already in --runs are kept. Run it under
`nice -n 10` with OMP_NUM_THREADS=1 on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from uvscope.models.colournorm import METHODS, normalise


def load_sets(bccd: Path, zheng: Path, px: float, size: int) -> dict[str, tuple]:
    from uvscope.models.owndata import open_own_data, rgb_crops
    from uvscope.models.userdata import load_crop_folder

    b = load_crop_folder(bccd, size)
    ds = open_own_data(zheng, pixel_size_um=px)
    zx, zl, _, _ = rgb_crops(ds, None, size)
    return {"bccd": (b.x.astype(np.float32), b.label), "zheng": (zx.astype(np.float32), zl)}


def fit(x: np.ndarray, y: np.ndarray, epochs: int, seed: int):  # type: ignore[no-untyped-def]
    import dataclasses

    from uvscope.models.arch import preset
    from uvscope.models.metrics import stratified_kfold
    from uvscope.models.train_classify import CropArrays, train_classifier

    cfg = dataclasses.replace(preset("classify", "small"), backbone="resnet18")
    data = CropArrays(x, y, np.zeros(len(y), int))
    tr, va = stratified_kfold(y, 5, seed=seed)[0]
    net, _, _ = train_classifier(
        data.subset(tr), data.subset(va), cfg, epochs, device="cpu", seed=seed,
        log=lambda s: None, augment="rgb",
    )  # fmt: skip
    return net


def predict(net, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    from uvscope.models.train_classify import predict_arrays

    return predict_arrays(net, x, torch.device("cpu"))[1].argmax(1)


def confusion(y: np.ndarray, p: np.ndarray) -> list[list[int]]:
    cm = np.zeros((5, 5), int)
    np.add.at(cm, (y, p), 1)
    return cm.tolist()


def _cross(a, res, res_file, sets, norm, method) -> None:  # type: ignore[no-untyped-def]
    for src, dst, seed in (
        (s, d, seed) for s, d in (("bccd", "zheng"), ("zheng", "bccd")) for seed in a.seeds
    ):
        key = f"{method}:{src}->{dst}" + (f" seed {seed}" if seed else "")
        if key in res:
            continue
        t0 = time.time()
        net = fit(norm[src], sets[src][1], a.epochs, seed)
        res[key] = {
            "confusion": confusion(sets[dst][1], predict(net, norm[dst])),
            "seconds": time.time() - t0,
        }
        res_file.write_text(json.dumps(res, indent=1))
        print(key, f"{time.time() - t0:.0f} s", flush=True)


def _within(a, res, res_file, sets, norm, method) -> None:  # type: ignore[no-untyped-def]
    from uvscope.models.metrics import stratified_kfold

    for src in sets:
        n_folds = a.within_max_folds or a.within_folds
        key = f"{method}:{src} within, {n_folds} of {a.within_folds} folds"
        if key in res:
            continue
        t0 = time.time()
        y = sets[src][1]
        cm = np.zeros((5, 5), int)
        for f, (tr, te) in enumerate(stratified_kfold(y, a.within_folds, seed=0)):
            if f >= n_folds:
                break
            net = fit(norm[src][tr], y[tr], a.epochs, f)
            cm += np.asarray(confusion(y[te], predict(net, norm[src][te])))
        res[key] = {"confusion": cm.tolist(), "seconds": time.time() - t0}
        res_file.write_text(json.dumps(res, indent=1))
        print(key, f"{time.time() - t0:.0f} s", flush=True)


def run(a: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(1)
    res_file = a.runs / "results.json"
    res = json.loads(res_file.read_text()) if res_file.exists() else {}
    sets = load_sets(a.bccd, a.zheng, a.zheng_px, 64)
    for method in a.methods:
        norm = {k: normalise(x, method) for k, (x, _) in sets.items()}
        steps = [_cross, _within] if a.within_folds else [_cross]
        for step in reversed(steps) if a.within_first else steps:
            step(a, res, res_file, sets, norm, method)
    return res


def scores(cm: np.ndarray) -> tuple[float, float, float]:
    from uvscope.models.metrics import classification_report

    yt = np.repeat(np.arange(5), cm.sum(1))
    yp = np.concatenate([np.repeat(np.arange(5), row) for row in cm])
    rep = classification_report(yt, yp, ("n", "e", "b", "l", "m"))
    return rep.accuracy, rep.macro["balanced_accuracy"], rep.macro["f1"]


def summary(res: dict) -> str:
    """One row per method and direction: the mean over seeds (min - max in brackets)."""
    groups: dict[str, list[np.ndarray]] = {}
    for key, r in res.items():
        groups.setdefault(key.split(" seed ")[0], []).append(np.asarray(r["confusion"]))
    lines = [
        "| normalisation | train -> test | runs | n test | accuracy | balanced accuracy |"
        " macro F1 | majority: acc / bal / F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, cms in groups.items():
        method, what = key.split(":", 1)
        s = np.array([scores(cm) for cm in cms])
        base = np.zeros_like(cms[0])
        base[:, int(np.argmax(cms[0].sum(1)))] = cms[0].sum(1)
        m = scores(base)
        cells = [
            f"{s[:, i].mean():.3f}"
            + (f" ({s[:, i].min():.3f}-{s[:, i].max():.3f})" if len(s) > 1 else "")
            for i in range(3)
        ]
        lines.append(
            f"| {method} | {what} | {len(cms)} | {int(cms[0].sum())} | "
            + " | ".join(cells)
            + f" | {m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f} |"
        )
    return "\n".join(lines)


def confusions(res: dict, key: str) -> np.ndarray:
    """The confusion matrix of ``key`` summed over its seeds."""
    return sum(np.asarray(r["confusion"]) for k, r in res.items() if k.split(" seed ")[0] == key)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--bccd", type=Path)
    ap.add_argument("--zheng", type=Path)
    ap.add_argument("--zheng-px", type=float, default=0.16)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="cross-source runs")
    ap.add_argument("--within-folds", type=int, default=5, help="0: skip within-source")
    ap.add_argument(
        "--within-max-folds", type=int, default=None, help="score only the first N test folds"
    )
    ap.add_argument("--within-first", action="store_true", help="within-source runs first")
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument(
        "--confusion",
        nargs="*",
        default=[],
        metavar="KEY",
        help="also print the per-class table and confusion matrix (summed over seeds) of "
        "these rows, e.g. 'gray:zheng->bccd'",
    )
    a = ap.parse_args()
    a.runs.mkdir(parents=True, exist_ok=True)
    if a.summary_only:
        res = json.loads((a.runs / "results.json").read_text())
    else:
        if a.bccd is None or a.zheng is None:
            ap.error("--bccd and --zheng are needed to train")
        res = run(a)
    print(summary(res))
    for key in a.confusion:
        from uvscope.models.metrics import classification_report

        cm = confusions(res, key)
        yt = np.repeat(np.arange(5), cm.sum(1))
        yp = np.concatenate([np.repeat(np.arange(5), row) for row in cm])
        names = ("neutrophil", "eosinophil", "basophil", "lymphocyte", "monocyte")
        print(f"\n### {key} (summed over its runs)\n")
        print(classification_report(yt, yp, names).markdown())


if __name__ == "__main__":
    main()
