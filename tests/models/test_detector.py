"""The detector built from the paper's five modules on torchvision's Faster R-CNN."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from models.backbones import (
    ShuffleNetV2,
    channel_split,
    read_shufflenet_state_dict,
    shufflenet_v2_x0_5_fpn,
)
from models.config import DetectorConfig, FeatureMapGenerator, ObjectLocalization
from models.detector import build_detector, default_config
from models.errors import BackboneWeightsError, WeightsUnavailableError
from tests.models.scenes import SHARED_WEIGHTS, tiny_config_dict

CLASSES = ("cardboard", "plastic")


def test_channel_split_is_megvii_parity_split():
    x = torch.arange(2 * 6 * 1 * 1, dtype=torch.float32).reshape(2, 6, 1, 1)
    even, odd = channel_split(x)
    assert torch.equal(even, x[:, 0::2]) and torch.equal(odd, x[:, 1::2])


def test_shufflenet_layout_and_strides():
    trunk = ShuffleNetV2()
    assert len(trunk.state_dict()) == 330  # the ImageNet file's key count
    backbone = shufflenet_v2_x0_5_fpn(fpn_channels=32, frozen_batchnorm=False)
    out = backbone(torch.rand(1, 3, 256, 320))
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(32, 40), (16, 20), (8, 10), (4, 5)]
    assert backbone.out_channels == 32


@pytest.mark.skipif(not SHARED_WEIGHTS.is_dir(), reason=f"{SHARED_WEIGHTS} is absent")
@pytest.mark.parametrize(
    "name", ["shufflenet_v2_x0_5_imagenet.pth", "fastestdet_shufflenet_v2_x0_5_coco.pth"]
)
def test_shared_weights_load_strictly(name):
    state = read_shufflenet_state_dict(SHARED_WEIGHTS / name)
    backbone = shufflenet_v2_x0_5_fpn(weights_backbone=SHARED_WEIGHTS / name)
    loaded = backbone.body.state_dict()
    key = "stage3.0.branch_main.0.weight"
    assert torch.equal(loaded[key], state[key])


def test_wrong_weights_file_is_named(tmp_path):
    bad = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(BackboneWeightsError, match=r"resnet\.pth does not match"):
        shufflenet_v2_x0_5_fpn(weights_backbone=bad)
    with pytest.raises(BackboneWeightsError, match="not found"):
        shufflenet_v2_x0_5_fpn(weights_backbone=tmp_path / "missing.pth")


def test_config_sets_the_torchvision_arguments():
    config = default_config(CLASSES, fpn_channels=64, train_sizes_px=(512, 576), test_size_px=608)
    config = DetectorConfig.from_dict(
        {
            **config.to_dict(),
            "foreground_background_score": {"objectness_threshold": 0.1, "pre_nms_top_n_test": 321},
            "regression_proposal_selector": {"nms_iou": 0.6, "post_nms_top_n_test": 123},
            "object_localization": {"score_threshold": 0.3, "detections_per_image": 7},
        }
    )
    model = build_detector(config)
    assert isinstance(model, FasterRCNN)
    assert model.transform.min_size == (512, 576, 608)  # test size last = used in eval mode
    assert model.rpn.score_thresh == 0.1 and model.rpn.nms_thresh == 0.6
    assert model.rpn._pre_nms_top_n["testing"] == 321
    assert model.rpn._post_nms_top_n["testing"] == 123
    assert model.roi_heads.score_thresh == 0.3 and model.roi_heads.detections_per_img == 7
    assert model.roi_heads.box_predictor.cls_score.out_features == 3  # + background
    assert model.roi_heads.box_head.fc6.out_features == 256  # the light head
    assert model.backbone.body.channel_order.bgr  # ShuffleNet gets BGR 0-1
    assert model.transform.image_mean == [0.0, 0.0, 0.0]


def test_config_round_trips_through_dict():
    config = default_config(CLASSES)
    assert DetectorConfig.from_dict(config.to_dict()) == config


def test_anchor_generator_hand_computed():
    """Size 16, ratio 1 on a 2x2 map of stride 16: anchors centred on the cell corners."""
    generator = AnchorGenerator(sizes=((16,),), aspect_ratios=((1.0,),))
    images = ImageList(torch.zeros(1, 3, 32, 32), [(32, 32)])
    anchors = generator(images, [torch.zeros(1, 8, 2, 2)])[0]
    expected = torch.tensor([[-8.0, -8, 8, 8], [8, -8, 24, 8], [-8, 8, 8, 24], [8, 8, 24, 24]])
    assert torch.equal(anchors, expected)


def test_anchor_levels_must_match_feature_maps():
    config = DetectorConfig.from_dict(
        {"class_names": CLASSES, "candidate_object_locator": {"anchor_sizes_px": [[32], [64]]}}
    )
    with pytest.raises(ValueError, match="gives 4 feature maps"):
        build_detector(config)


def test_empty_target_gives_zero_box_loss():
    torch.manual_seed(0)
    config = DetectorConfig.from_dict({"class_names": CLASSES, **tiny_config_dict()})
    model = build_detector(config).train()
    empty = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)}
    losses = model([torch.rand(3, 128, 128)], [empty])
    assert losses["loss_box_reg"].item() == 0.0 and losses["loss_rpn_box_reg"].item() == 0.0
    assert losses["loss_classifier"].item() > 0


def test_seeded_smoke_inference():
    config = DetectorConfig.from_dict({"class_names": CLASSES, **tiny_config_dict()})
    outputs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_detector(config).eval()
        with torch.inference_mode():
            outputs.append(model([torch.rand(3, 100, 140)])[0])
    assert set(outputs[0]) == {"boxes", "labels", "scores"}
    assert torch.equal(outputs[0]["boxes"], outputs[1]["boxes"])


def test_coco_weights_offline_error_names_the_fix(monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    config = DetectorConfig(
        class_names=CLASSES,
        feature_map_generator=FeatureMapGenerator(
            backbone="mobilenet_v3_large_fpn", input_format="rgb"
        ),
        object_localization=ObjectLocalization(),
    )
    with pytest.raises(
        WeightsUnavailableError, match=r"offline.*hub/checkpoints.*--backbone-weights"
    ):
        build_detector(config, weights="coco")


def test_coco_weights_need_a_torchvision_backbone():
    with pytest.raises(ValueError, match="fastestdet"):
        build_detector(default_config(CLASSES), weights="coco")


def test_torchvision_backbones_build_without_weights():
    model = build_detector(default_config(CLASSES, backbone="mobilenet_v3_large_fpn"))
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
