"""Training the two-output segmentation U-Net (BCE + Dice, Adam, plateau decay as the paper).

Fine-tuning (``init``) starts from a weights file, decays the learning rate along a cosine per
batch (resume-safe: the rate is a function of the step) and keeps the starting weights unless an
epoch beats them on the validation donors, so a fine-tune can never ship something worse.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from uvscope.errors import ModelError
from uvscope.models.arch import SegConfig
from uvscope.models.augment import augment_segmentation, batch_dihedral
from uvscope.models.checkpoint import load_checkpoint, save_checkpoint
from uvscope.models.loop import History, Log, setup
from uvscope.models.losses import bce_dice_loss
from uvscope.models.metrics import mean_dice
from uvscope.models.patches import (
    NEGATIVE_FRACTION,
    TileArrays,
    red_cell_negatives,
    sample_patches,
)
from uvscope.models.predict import pad_to_multiple
from uvscope.models.unet import SegmentationNet


@torch.no_grad()
def segment_tiles(
    net: SegmentationNet, tiles: list[TileArrays], device: torch.device
) -> list[np.ndarray]:
    """Probabilities (2,H,W) of each whole tile, reflect-padded to a multiple of 2**depth.

    Whole tiles, as the analysis runs the network: cutting a tile into patches first would
    score cells the network saw without their surroundings.
    """
    net.eval()
    out = []
    for t in tiles:
        x = torch.from_numpy(np.ascontiguousarray(t.gray, np.float32))[None, None].to(device)
        x, h, w = pad_to_multiple(x, 2**net.unet.depth)
        out.append(torch.sigmoid(net(x).float())[0, :, :h, :w].cpu().numpy())
    return out


def dice_scores(
    prob: np.ndarray | list[np.ndarray], y: np.ndarray | list[np.ndarray]
) -> dict[str, float]:
    """Mean Dice per image of (N,2,H,W) probabilities against targets (>= 0.5 is inside).

    Lists of (2,H,W) arrays of different sizes work too.
    """
    return {
        name: mean_dice([p[c] >= 0.5 for p in prob], [t[c] >= 0.5 for t in y])
        for c, name in enumerate(("cell_dice", "nucleus_dice"))
    }


def tile_targets(tiles: list[TileArrays]) -> list[np.ndarray]:
    return [np.stack([t.cell, t.nucleus]).astype(np.float32) for t in tiles]


def find_negatives(tiles: list[TileArrays], size: int, log: Log = print) -> int:
    """Look for red-cell-rich windows without a WBC in every training tile (background
    examples, see patches.red_cell_negatives); returns how many were found."""
    n_tiles = n = 0
    for t in tiles:
        if t.negatives is None:
            t.negatives = red_cell_negatives(t.gray, t.cell, size)
        n += len(t.negatives)
        n_tiles += bool(len(t.negatives))
    log(
        f"red-cell-rich negatives: {n} windows without a WBC in {n_tiles} of {len(tiles)} "
        f"training tiles ({NEGATIVE_FRACTION:.0%} of patches where a tile has them)"
    )
    if n == 0:
        log(
            f"warning: no red-cell-rich window without a white cell in any of the {len(tiles)} "
            "training tiles: the network sees no red cells as background and may take them "
            "for white cells; add fields with red cells and no white cell (larger images)"
        )
    return n


def train_segmenter(
    train: list[TileArrays],
    val: list[TileArrays],
    cfg: SegConfig,
    epochs: int,
    out_dir: Path | None = None,
    device: str = "auto",
    seed: int = 0,
    lr: float = 3e-3,
    batch_size: int = 8,
    patches_per_epoch: int = 256,
    resume: bool = False,
    log: Log = print,
    init: Path | None = None,
    nucleus_weight: float = 1.0,
    augment: str = "dihedral",
) -> tuple[SegmentationNet, History]:
    """Train on random WBC-biased patches; keep the epoch with the best validation mean Dice.

    ``init``: a segment .safetensors to fine-tune (same architecture as ``cfg``); the rate then
    follows a cosine from ``lr`` to lr/100 over all batches instead of the plateau decay.
    ``nucleus_weight`` scales the nucleus channel's share of the loss. ``augment``:
    "dihedral" (flips and rotations, as the shipped weights were trained) or "microscopy"
    (also scale jitter, gamma, contrast, brightness, defocus blur and noise; own data).
    """
    dev = setup(seed, device)
    net = SegmentationNet(cfg.base_width, cfg.depth, cfg.extra_conv).to(dev)
    if init is not None:
        _load_init(net, cfg, init)
    find_negatives(train, cfg.patch_size, log)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.2, patience=4)
    steps = max(1, patches_per_epoch // batch_size)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    hist = History()
    yv = tile_targets(val)
    best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    if init is not None and not resume:
        m0 = dice_scores(segment_tiles(net, val, dev), yv)
        hist.best_score = 0.5 * (m0["cell_dice"] + m0["nucleus_dice"])
        log(
            f"start weights {init}: val Dice cell {m0['cell_dice']:.4f} "
            f"nucleus {m0['nucleus_dice']:.4f}"
        )
    start = 0
    ck = out_dir / "checkpoint" if out_dir else None
    if resume and ck is not None:
        hist, start, best_state = _resume(net, opt, cfg, ck, best_state)
        rng = np.random.default_rng(seed + start)
        log(f"resumed after epoch {start}")
    for epoch in range(start, epochs):
        net.train()
        x, y = sample_patches(
            train, patches_per_epoch, cfg.patch_size, rng, negative_fraction=NEGATIVE_FRACTION
        )
        both = _augmented(x, y, gen, augment)
        losses = []
        for i, b in enumerate(range(0, patches_per_epoch - batch_size + 1, batch_size)):
            if init is not None:
                t = (epoch * steps + i) / max(1, epochs * steps - 1)
                for g in opt.param_groups:
                    g["lr"] = lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t)))
            xb = both[b : b + batch_size, :1].to(dev)
            yb = both[b : b + batch_size, 1:].to(dev)
            loss = bce_dice_loss(net(xb), yb, (1.0, nucleus_weight))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        m = dice_scores(segment_tiles(net, val, dev), yv)
        score = 0.5 * (m["cell_dice"] + m["nucleus_dice"])
        if init is None:
            sched.step(score)
        rec = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            **{f"val_{k}": v for k, v in m.items()},
        }
        hist.epochs.append(rec)
        if score > hist.best_score:
            hist.best_score, hist.best_epoch = score, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            if out_dir is not None:
                tmp = SegmentationNet(cfg.base_width, cfg.depth, cfg.extra_conv)
                tmp.load_state_dict(best_state)
                save_checkpoint(out_dir / "best", {"net": tmp}, [], {"epoch": epoch})
        log(
            f"epoch {epoch + 1}/{epochs} loss {rec['train_loss']:.4f} val Dice cell "
            f"{m['cell_dice']:.4f} nucleus {m['nucleus_dice']:.4f} ({hist.elapsed():.0f} s)"
        )
        if ck is not None:
            save_checkpoint(ck, {"net": net}, [opt], {"epoch": epoch, "history": hist.to_dict()})
    net = SegmentationNet(cfg.base_width, cfg.depth, cfg.extra_conv)
    net.load_state_dict(best_state)
    return net.eval(), hist


def _resume(
    net: SegmentationNet,
    opt: torch.optim.Optimizer,
    cfg: SegConfig,
    ck: Path,
    best_state: dict[str, torch.Tensor],
) -> tuple[History, int, dict[str, torch.Tensor]]:
    """Reload the run's checkpoint and its best epoch so far (none: the start weights won)."""
    st = load_checkpoint(ck, {"net": net}, [opt])
    if (ck.parent / "best.safetensors").exists():
        tmp = SegmentationNet(cfg.base_width, cfg.depth, cfg.extra_conv)
        load_checkpoint(ck.parent / "best", {"net": tmp}, [])
        best_state = tmp.state_dict()
    return History.from_dict(st["history"]), int(st["epoch"]) + 1, best_state


def _augmented(x: np.ndarray, y: np.ndarray, gen: torch.Generator, how: str) -> torch.Tensor:
    """Images and masks stacked (N, 1 + 2, S, S) after the chosen augmentation."""
    if how == "microscopy":
        xa, ya = augment_segmentation(torch.from_numpy(x), torch.from_numpy(y), gen)
        return torch.cat([xa, ya], 1)
    return batch_dihedral(torch.from_numpy(np.concatenate([x, y], 1)), gen)


def _load_init(net: SegmentationNet, cfg: SegConfig, path: Path) -> None:
    """Copy a checked weights file into ``net``; a different architecture is a ModelError."""
    from uvscope.models.arch import same_network
    from uvscope.models.registry import load_model

    src, src_cfg, _ = load_model(path, "segment")
    if not same_network(src_cfg, cfg):
        raise ModelError(
            f"{path} is a {src_cfg} network but training asks for {cfg}; fine-tune with the "
            "same architecture (drop --set overrides) or train from scratch without --init"
        )
    net.load_state_dict(src.state_dict())
