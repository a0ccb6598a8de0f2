import pytest
import torch

from uvscope.models.arch import ClassifyConfig
from uvscope.models.classifiers import ResNet18Features, TwoStageClassifier
from uvscope.models.stain import (
    StainDiscriminator,
    StainGenerator,
    lab_norm_to_rgb,
    postprocess,
    rgb_to_lab_norm,
)
from uvscope.models.unet import SegmentationNet


def _grads_flow(model: torch.nn.Module) -> bool:
    return all(
        p.grad is not None and torch.isfinite(p.grad).all()
        for p in model.parameters()
        if p.requires_grad
    )


def test_segmentation_net_shapes_and_gradients():
    net = SegmentationNet(base_width=4, depth=3)
    y = net(torch.rand(2, 1, 32, 48))
    assert y.shape == (2, 2, 32, 48)
    y.mean().backward()
    assert _grads_flow(net)
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 1, 30, 32))


def test_stain_generator_and_discriminator():
    gen, disc = StainGenerator(4, 3), StainDiscriminator(4, 4)
    l01 = torch.rand(2, 1, 32, 32)
    lab = gen(l01)
    assert lab.shape == (2, 3, 32, 32) and lab[:, 1:].abs().max() <= 1
    assert torch.equal(lab[:, :1], l01)  # the paper: L is the input image
    logits = disc(lab)
    assert logits.shape == (2,)
    logits.sum().backward()
    assert _grads_flow(disc) and _grads_flow(gen)


def test_stain_generator_predicting_lightness():
    gen = StainGenerator(4, 2, predict_l=True)
    l01 = torch.rand(1, 1, 16, 16)
    lab = gen(l01)
    assert lab.shape == (1, 3, 16, 16) and not torch.equal(lab[:, :1], l01)
    assert 0 <= lab[:, 0].min() and lab[:, 0].max() <= 1
    assert StainDiscriminator(4, 3, in_ch=4)(torch.cat([l01, lab], 1)).shape == (1,)


def test_lab_roundtrip_and_postprocess_brightens():
    rgb = torch.rand(1, 3, 16, 16) * 0.8 + 0.1
    lab = rgb_to_lab_norm(rgb)
    back = lab_norm_to_rgb(lab[:, :1], lab[:, 1:])
    assert torch.allclose(back, rgb, atol=1e-3)
    post = postprocess(back)
    assert post.shape == rgb.shape and (post >= back - 1e-6).all() and post.max() <= 1


@pytest.mark.parametrize("backbone", ["resnet18", "wnet", "wbcsnet2"])
def test_two_stage_classifier_backbones(backbone):
    cfg = ClassifyConfig(backbone=backbone, width=4, crop_size=32, dropout=0.0)
    net = TwoStageClassifier(cfg)
    d, c = net(torch.rand(3, 3, 32, 32))
    assert d.shape == (3, 2) and c.shape == (3, 5)
    (d.sum() + c.sum()).backward()
    assert _grads_flow(net)


def test_resnet18_standard_width_gives_512_features_and_paper_heads():
    assert ResNet18Features(64).out_features == 512
    net = TwoStageClassifier(ClassifyConfig(width=64, small_input=False))
    dims = [m.out_features for m in net.dead_head if isinstance(m, torch.nn.Linear)]
    assert net.dead_head[0].in_features == 512 and dims == [128, 64, 32, 8, 2]
    dims5 = [m.out_features for m in net.class_head if isinstance(m, torch.nn.Linear)]
    assert dims5 == [256, 128, 64, 32, 5]
