"""Training the staining cGAN (generator L -> a,b; discriminator on (L, a, b))."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from uvscope.models.arch import StainConfig
from uvscope.models.augment import batch_dihedral
from uvscope.models.checkpoint import load_checkpoint, save_checkpoint
from uvscope.models.loop import History, Log, setup
from uvscope.models.metrics import msssim_rgb
from uvscope.models.patches import TileArrays, grid_patches, sample_patches
from uvscope.models.stain import (
    StainDiscriminator,
    StainGenerator,
    discriminator_loss,
    generator_loss,
    lab_norm_to_rgb,
    postprocess,
    rgb_to_lab_norm,
)


@torch.no_grad()
def stain_arrays(
    gen: StainGenerator,
    x: np.ndarray,
    device: torch.device,
    bs: int = 8,
    post: bool = True,
    rgb_offset: float = 0.02,
    value_offset: float = 0.07,
) -> np.ndarray:
    """RGB (N,3,H,W) for gray patches (N,1,H,W)."""
    gen.eval()
    out = []
    for i in range(0, len(x), bs):
        t = torch.from_numpy(x[i : i + bs]).to(device)
        lab = gen(t).float()
        rgb = lab_norm_to_rgb(lab[:, :1], lab[:, 1:])
        if post:
            rgb = postprocess(rgb, rgb_offset, value_offset)
        out.append(rgb.cpu().numpy())
    return np.concatenate(out)


#: white-balance offsets tried on the validation donors; (0.02, 0.07) is the paper's
OFFSET_GRID: tuple[tuple[float, float], ...] = tuple(
    (r, v) for r in (0.0, 0.01, 0.02) for v in (0.0, 0.035, 0.07)
)


def choose_offsets(
    gen: StainGenerator, val: list[TileArrays], cfg: StainConfig, device: str = "cpu"
) -> tuple[tuple[float, float], dict[str, float]]:
    """The paper's post-processing offsets (RGB, HSV value) that score best on validation.

    The paper's +0.02 / +0.07 white balance matched its generator to its own ground truth;
    another ground truth may need less, so the offsets are chosen where the generator was:
    on the validation donors, never on test. Returns the pair and MS-SSIM of every pair tried.
    """
    xv, yv = grid_patches(val, cfg.patch_size, with_rgb=True)
    dev = torch.device(device)
    gen = gen.to(dev)
    raw = stain_arrays(gen, xv, dev, 8, post=False)
    scores: dict[str, float] = {}
    best, best_score = (cfg.rgb_offset, cfg.value_offset), -1.0
    for r, v in OFFSET_GRID:
        rgb = postprocess(torch.from_numpy(raw), r, v).numpy() if (r or v) else raw
        score = msssim_rgb(rgb, yv)[0]
        scores[f"{r:g}/{v:g}"] = score
        if score > best_score:
            best, best_score = (r, v), score
    return best, scores


def train_stainer(
    train: list[TileArrays],
    val: list[TileArrays],
    cfg: StainConfig,
    epochs: int,
    out_dir: Path | None = None,
    device: str = "auto",
    seed: int = 0,
    lr: float = 3e-4,
    batch_size: int = 8,
    patches_per_epoch: int = 256,
    l1_weight: float = 100.0,
    tv_weight: float = 1.0,
    resume: bool = False,
    log: Log = print,
) -> tuple[StainGenerator, History]:
    """Adam (lr 3e-4, beta1 0.5) for both networks; best generator by validation MS-SSIM."""
    dev = setup(seed, device)
    gen = StainGenerator.from_config(cfg).to(dev)
    disc = StainDiscriminator(cfg.disc_width, cfg.disc_layers, 4 if cfg.predict_l else 3).to(dev)
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = np.random.default_rng(seed)
    tgen = torch.Generator().manual_seed(seed)
    hist = History()
    xv, yv = grid_patches(val, cfg.patch_size, with_rgb=True)
    best = {k: v.detach().cpu().clone() for k, v in gen.state_dict().items()}
    start = 0
    ck = out_dir / "checkpoint" if out_dir else None
    if resume and ck is not None:
        st = load_checkpoint(ck, {"gen": gen, "disc": disc}, [opt_g, opt_d])
        hist = History.from_dict(st["history"])
        start = int(st["epoch"]) + 1
        rng = np.random.default_rng(seed + start)
        assert out_dir is not None
        tmp = StainGenerator.from_config(cfg)
        load_checkpoint(out_dir / "best", {"net": tmp}, [])
        best = tmp.state_dict()
        log(f"resumed after epoch {start}")
    for epoch in range(start, epochs):
        gen.train()
        disc.train()
        x, y = sample_patches(train, patches_per_epoch, cfg.patch_size, rng, with_rgb=True)
        both = batch_dihedral(torch.from_numpy(np.concatenate([x, y], 1)), tgen)
        gl, dl = [], []
        for b in range(0, patches_per_epoch - batch_size + 1, batch_size):
            l01 = both[b : b + batch_size, :1].to(dev)
            real_lab = rgb_to_lab_norm(both[b : b + batch_size, 1:].to(dev))
            fake_lab = gen(l01)
            # the discriminator always sees the 260 nm input beside the colour it judges
            if cfg.predict_l:
                real_in, fake_in = torch.cat([l01, real_lab], 1), torch.cat([l01, fake_lab], 1)
                pred, target = fake_lab, real_lab
            else:  # real colour beside the same lightness the generator gives its own
                real_in = torch.cat([fake_lab[:, :1].detach(), real_lab[:, 1:]], 1)
                fake_in = fake_lab
                pred, target = fake_lab[:, 1:], real_lab[:, 1:]
            d_loss = discriminator_loss(disc(real_in), disc(fake_in.detach()))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            g_loss = generator_loss(disc(fake_in), pred, target, l1_weight, tv_weight)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            gl.append(float(g_loss.detach()))
            dl.append(float(d_loss.detach()))
        score, per = msssim_rgb(
            stain_arrays(gen, xv, dev, 8, True, cfg.rgb_offset, cfg.value_offset), yv
        )
        rec = {
            "epoch": epoch,
            "g_loss": float(np.mean(gl)),
            "d_loss": float(np.mean(dl)),
            "val_msssim": score,
        }
        hist.epochs.append(rec)
        if score > hist.best_score:
            hist.best_score, hist.best_epoch = score, epoch
            best = {k: v.detach().cpu().clone() for k, v in gen.state_dict().items()}
            if out_dir is not None:
                tmp = StainGenerator.from_config(cfg)
                tmp.load_state_dict(best)
                save_checkpoint(out_dir / "best", {"net": tmp}, [], {"epoch": epoch})
        log(
            f"epoch {epoch + 1}/{epochs} G {rec['g_loss']:.3f} D {rec['d_loss']:.3f} val MS-SSIM "
            f"{score:.4f} (R {per[0]:.3f} G {per[1]:.3f} B {per[2]:.3f}) ({hist.elapsed():.0f} s)"
        )
        if ck is not None:
            save_checkpoint(
                ck,
                {"gen": gen, "disc": disc},
                [opt_g, opt_d],
                {"epoch": epoch, "history": hist.to_dict()},
            )
    out = StainGenerator.from_config(cfg)
    out.load_state_dict(best)
    return out.eval(), hist
