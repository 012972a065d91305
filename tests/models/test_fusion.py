"""Inference-time folding (models.fusion): fewer operations, the same outputs."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops.misc import FrozenBatchNorm2d
from torchvision.transforms.functional import pil_to_tensor

from models.checkpoint import load_checkpoint, model_from_checkpoint
from models.detector import build_detector, default_config
from models.fusion import (
    PreparedImageTransform,
    fold_batchnorm,
    fold_channel_order,
    optimize_for_inference,
    use_channels_last,
)
from models.inference import Detector


def _randomise_norms(model: nn.Module, seed: int = 0) -> None:
    """Give every norm non-trivial statistics (fresh ones are the identity: nothing to fold)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, FrozenBatchNorm2d | nn.BatchNorm2d):
            n = module.running_mean.numel()
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) * 2 + 0.1)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.2)


@pytest.mark.parametrize("frozen", [True, False])
def test_folded_backbone_computes_the_same_features(frozen):
    torch.manual_seed(0)
    model = build_detector(
        default_config(["plastic"], frozen_batchnorm=frozen, test_size_px=160)
    ).eval()
    assert model.backbone.body.channel_order.bgr  # ShuffleNet's BGR convention
    _randomise_norms(model)
    folded = copy.deepcopy(model)
    assert fold_batchnorm(folded) == sum(
        isinstance(m, FrozenBatchNorm2d | nn.BatchNorm2d) for m in model.modules()
    )
    assert fold_channel_order(folded)
    assert not folded.backbone.body.channel_order.bgr
    assert not any(isinstance(m, FrozenBatchNorm2d | nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 160, 224)
    with torch.inference_mode():
        expected, got = model.backbone(x), folded.backbone(x)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-4)


def test_folding_needs_eval_mode():
    model = build_detector(default_config(["plastic"]))
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(model.train())


def test_prepared_transform_skips_only_identity_work():
    plain = GeneralizedRCNNTransform(576, 1333, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]).eval()
    prepared = PreparedImageTransform.from_transform(plain)
    exact, other = torch.rand(3, 576, 768), torch.rand(3, 300, 400)
    for image in (exact, other):
        a, _ = plain([image])
        b, _ = prepared([image])
        assert a.image_sizes == b.image_sizes
        assert torch.equal(a.tensors, b.tensors)  # bit for bit: the skipped steps changed nothing
    # ImageNet normalisation is not the identity: it still runs
    imagenet = GeneralizedRCNNTransform(576, 1333, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    a, _ = imagenet.eval()([exact])
    b, _ = PreparedImageTransform.from_transform(imagenet)([exact])
    assert torch.equal(a.tensors, b.tensors)
    assert not torch.equal(b.tensors[0, :, :576, :768], exact)


def test_detector_detections_match_the_model_as_trained(tiny_run):
    """The Detector's folded model finds the same boxes, labels and scores as the trained one."""
    plain, _ = model_from_checkpoint(load_checkpoint(tiny_run.checkpoint))
    detector = Detector.load(tiny_run.checkpoint, num_threads=1)
    assert isinstance(detector.model.transform, PreparedImageTransform)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in detector.model.modules())
    convs = [m for m in detector.model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    images = [
        pil_to_tensor(Image.open(tiny_run.data / "images" / s.name).convert("RGB")).float() / 255
        for s in tiny_run.scenes[:4]
    ]
    with torch.inference_mode():
        expected = plain(images)
        got = detector.model(images)
    for a, b in zip(expected, got, strict=True):
        keep = a["scores"] > 0.3
        assert keep.any()
        torch.testing.assert_close(b["boxes"][: keep.sum()], a["boxes"][keep], atol=1e-2, rtol=0)
        torch.testing.assert_close(b["scores"][: keep.sum()], a["scores"][keep], atol=1e-4, rtol=0)
        assert torch.equal(b["labels"][: keep.sum()], a["labels"][keep])


def test_optimize_is_idempotent(tiny_run):
    model, _ = model_from_checkpoint(load_checkpoint(tiny_run.checkpoint))
    once = optimize_for_inference(model)
    transform = once.transform
    assert optimize_for_inference(once).transform is transform
    assert fold_batchnorm(once) == 0
    assert not use_channels_last(once)
    assert len(once.backbone._forward_pre_hooks) == 1
