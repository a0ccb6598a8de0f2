"""Training the two-output segmentation U-Net (BCE + Dice, Adam, plateau decay as the paper)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from uvscope.models.arch import SegConfig
from uvscope.models.augment import batch_dihedral
from uvscope.models.checkpoint import load_checkpoint, save_checkpoint
from uvscope.models.loop import History, Log, setup
from uvscope.models.losses import bce_dice_loss
from uvscope.models.metrics import mean_dice
from uvscope.models.patches import TileArrays, grid_patches, sample_patches
from uvscope.models.unet import SegmentationNet


@torch.no_grad()
def segment_arrays(
    net: SegmentationNet, x: np.ndarray, device: torch.device, bs: int = 8
) -> np.ndarray:
    """Probabilities (N,2,H,W) for patches (N,1,H,W)."""
    net.eval()
    out = []
    for i in range(0, len(x), bs):
        out.append(
            torch.sigmoid(net(torch.from_numpy(x[i : i + bs]).to(device)).float()).cpu().numpy()
        )
    return np.concatenate(out)


def dice_scores(prob: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "cell_dice": mean_dice(prob[:, 0] >= 0.5, y[:, 0] >= 0.5),
        "nucleus_dice": mean_dice(prob[:, 1] >= 0.5, y[:, 1] >= 0.5),
    }


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
) -> tuple[SegmentationNet, History]:
    """Train on random WBC-biased patches; keep the epoch with the best validation mean Dice."""
    dev = setup(seed, device)
    net = SegmentationNet(cfg.base_width, cfg.depth, cfg.extra_conv).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.2, patience=4)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    hist = History()
    xv, yv = grid_patches(val, cfg.patch_size)
    best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    start = 0
    ck = out_dir / "checkpoint" if out_dir else None
    if resume and ck is not None:
        st = load_checkpoint(ck, {"net": net}, [opt])
        hist = History.from_dict(st["history"])
        start = int(st["epoch"]) + 1
        rng = np.random.default_rng(seed + start)
        assert out_dir is not None
        tmp = SegmentationNet(cfg.base_width, cfg.depth, cfg.extra_conv)
        load_checkpoint(out_dir / "best", {"net": tmp}, [])
        best_state = tmp.state_dict()
        log(f"resumed after epoch {start}")
    for epoch in range(start, epochs):
        net.train()
        x, y = sample_patches(train, patches_per_epoch, cfg.patch_size, rng)
        both = batch_dihedral(torch.from_numpy(np.concatenate([x, y], 1)), gen)
        losses = []
        for b in range(0, patches_per_epoch - batch_size + 1, batch_size):
            xb = both[b : b + batch_size, :1].to(dev)
            yb = both[b : b + batch_size, 1:].to(dev)
            loss = bce_dice_loss(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        m = dice_scores(segment_arrays(net, xv, dev), yv)
        score = 0.5 * (m["cell_dice"] + m["nucleus_dice"])
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
