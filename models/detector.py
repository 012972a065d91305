"""Build torchvision's Faster R-CNN from a :class:`~models.config.DetectorConfig`.

Nothing here re-implements Faster R-CNN: the config's five parts become the arguments of
``torchvision.models.detection.FasterRCNN``, and the box head / predictor are replaced the way
torchvision's fine-tuning recipe replaces them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from models.backbones import shufflenet_v2_x0_5_fpn, torchvision_fpn_backbone
from models.config import CandidateObjectLocator, DetectorConfig, FeatureMapGenerator
from models.errors import DeviceError, WeightsUnavailableError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Feature maps each backbone returns (FPN levels + the max-pooled level), finest first.
FEATURE_MAPS = {
    "shufflenet_v2_x0_5_fpn": ("0", "1", "2", "pool"),
    "mobilenet_v3_large_fpn": ("0", "1", "pool"),
    "resnet50_fpn": ("0", "1", "2", "3", "pool"),
}
#: Anchor sizes (px) per feature map that suit litter, per backbone.
DEFAULT_ANCHORS = {
    "shufflenet_v2_x0_5_fpn": ((16, 24), (32, 48), (64, 96), (128, 256)),
    "mobilenet_v3_large_fpn": ((16, 32, 64), (64, 128, 256), (128, 256, 512)),
    "resnet50_fpn": ((16,), (32,), (64,), (128,), (256,)),
}


def check_device(device: str, *, name: str = "--device") -> torch.device:
    """``device`` as a torch device: ``cpu``, or ``cuda`` (``cuda:N``) where CUDA is available.

    ``name`` is where the user set it (``--device``, ``WASTEMAP_DEVICE``), for the message; a bad
    value raises :class:`~models.errors.DeviceError` before any model or data is loaded.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise DeviceError(f"{name} {device!r} is not a device; use cpu or cuda")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        fix = f"{name} cpu" if name.startswith("-") else f"{name}=cpu"
        raise DeviceError(f"{name} {device}: CUDA is not available on this machine; use {fix}")
    return parsed


def default_config(
    class_names: tuple[str, ...] | list[str],
    *,
    backbone: str = "shufflenet_v2_x0_5_fpn",
    **feature_map_overrides: object,
) -> DetectorConfig:
    """A config with litter-sized anchors and the input convention that suits ``backbone``.

    ShuffleNet takes BGR in 0-1 (the statistics its pretrained batch-norm layers hold);
    torchvision's backbones take RGB normalised with ImageNet mean/std.
    """
    fmg = FeatureMapGenerator(
        backbone=backbone, input_format="bgr" if backbone.startswith("shufflenet") else "rgb"
    )
    fmg = replace(fmg, **feature_map_overrides)  # type: ignore[arg-type]
    return DetectorConfig(
        class_names=tuple(class_names),
        feature_map_generator=fmg,
        candidate_object_locator=CandidateObjectLocator(anchor_sizes_px=DEFAULT_ANCHORS[backbone]),
    )


def build_detector(
    config: DetectorConfig,
    *,
    weights: Literal["coco"] | None = None,
    weights_backbone: str | Path | None = None,
) -> FasterRCNN:
    """torchvision ``FasterRCNN`` configured by ``config``.

    Parameters
    ----------
    config
        Class names and the five modules' settings.
    weights
        ``"coco"``: start from torchvision's COCO-trained detector (its weight enums; needs the
        internet once, then the torch hub cache) and replace the class predictor. Keeps
        torchvision's anchors and 1024-wide box head, which the pretrained weights require.
        Only for the torchvision backbones.
    weights_backbone
        ShuffleNet: path of a Megvii-layout state dict (``../shared/weights``). torchvision
        backbones: ``"imagenet"`` for their ImageNet weight enum (needs the internet).
    """
    if not config.class_names:
        raise ValueError("config.class_names is empty: a detector needs at least one class")
    if weights == "coco":
        return _build_from_coco(config)
    if weights is not None:
        raise ValueError(f"weights must be 'coco' or None, got {weights!r}")
    backbone = _build_backbone(config.feature_map_generator, weights_backbone)
    return _assemble(config, backbone)


def _build_backbone(fmg: FeatureMapGenerator, weights_backbone: str | Path | None) -> nn.Module:
    if fmg.backbone == "shufflenet_v2_x0_5_fpn":
        return shufflenet_v2_x0_5_fpn(
            weights_backbone=weights_backbone,
            fpn_channels=fmg.fpn_channels,
            trainable_layers=fmg.trainable_layers,
            bgr=fmg.input_format == "bgr",
            frozen_batchnorm=fmg.frozen_batchnorm,
        )
    enum_weights = None
    if weights_backbone is not None:
        if str(weights_backbone) != "imagenet":
            raise ValueError(
                f"{fmg.backbone} takes weights_backbone='imagenet' (torchvision's weight enum), "
                f"not a file: {weights_backbone}"
            )
        enum_weights = _imagenet_enum(fmg.backbone)
    try:
        return torchvision_fpn_backbone(
            fmg.backbone, weights_backbone=enum_weights, trainable_layers=fmg.trainable_layers
        )
    except Exception as exc:
        if enum_weights is None:
            raise
        raise _offline_error(f"ImageNet weights for {fmg.backbone}", enum_weights, exc) from exc


def _transform_kwargs(fmg: FeatureMapGenerator) -> dict[str, object]:
    if fmg.input_format == "bgr":
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    else:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    return {
        "min_size": fmg.train_sizes_px,
        "max_size": fmg.max_size_px,
        "image_mean": list(mean),
        "image_std": list(std),
    }


def _threshold_kwargs(config: DetectorConfig) -> dict[str, object]:
    fbs = config.foreground_background_score
    rps = config.regression_proposal_selector
    loc = config.object_localization
    return {
        "rpn_score_thresh": fbs.objectness_threshold,
        "rpn_pre_nms_top_n_train": fbs.pre_nms_top_n_train,
        "rpn_pre_nms_top_n_test": fbs.pre_nms_top_n_test,
        "rpn_nms_thresh": rps.nms_iou,
        "rpn_post_nms_top_n_train": rps.post_nms_top_n_train,
        "rpn_post_nms_top_n_test": rps.post_nms_top_n_test,
        "box_score_thresh": loc.score_threshold,
        "box_nms_thresh": loc.nms_iou,
        "box_detections_per_img": loc.detections_per_image,
        "box_batch_size_per_image": loc.rois_per_image_train,
    }


def _assemble(config: DetectorConfig, backbone: nn.Module) -> FasterRCNN:
    fmg = config.feature_map_generator
    col = config.candidate_object_locator
    loc = config.object_localization
    maps = FEATURE_MAPS[fmg.backbone]
    if len(col.anchor_sizes_px) != len(maps):
        raise ValueError(
            f"candidate_object_locator.anchor_sizes_px has {len(col.anchor_sizes_px)} levels but "
            f"{fmg.backbone} gives {len(maps)} feature maps {maps}: give one tuple of sizes each"
        )
    anchor_generator = AnchorGenerator(
        sizes=col.anchor_sizes_px, aspect_ratios=(col.aspect_ratios,) * len(maps)
    )
    box_roi_pool = MultiScaleRoIAlign(
        featmap_names=[m for m in maps if m != "pool"],
        output_size=loc.roi_output_size,
        sampling_ratio=2,
    )
    channels = backbone.out_channels
    box_head = TwoMLPHead(channels * loc.roi_output_size**2, loc.representation_size)
    box_predictor = FastRCNNPredictor(loc.representation_size, config.num_classes)
    model = FasterRCNN(
        backbone,
        num_classes=None,
        rpn_anchor_generator=anchor_generator,
        box_roi_pool=box_roi_pool,
        box_head=box_head,
        box_predictor=box_predictor,
        **_transform_kwargs(fmg),
        **_threshold_kwargs(config),
    )
    set_test_size(model, fmg.test_size_px)
    return model


def set_test_size(model: FasterRCNN, size_px: int) -> None:
    """Resize inputs so their shorter side is ``size_px`` at inference.

    torchvision's ``GeneralizedRCNNTransform`` always uses ``min_size[-1]`` in eval mode; training
    picks one of ``min_size`` at random (multi-scale training). Putting the test size last gives
    both.
    """
    sizes = [s for s in model.transform.min_size if s != size_px]
    model.transform.min_size = (*sizes, size_px)


def _build_from_coco(config: DetectorConfig) -> FasterRCNN:
    from torchvision.models import detection as tvd

    fmg = config.feature_map_generator
    builders = {
        "mobilenet_v3_large_fpn": (
            tvd.fasterrcnn_mobilenet_v3_large_fpn,
            tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1,
        ),
        "resnet50_fpn": (tvd.fasterrcnn_resnet50_fpn, tvd.FasterRCNN_ResNet50_FPN_Weights.COCO_V1),
    }
    if fmg.backbone not in builders:
        raise ValueError(
            f"weights='coco' needs a torchvision backbone ({', '.join(builders)}); torchvision "
            f"has no COCO detector for {fmg.backbone}. For ShuffleNet pass "
            "weights_backbone=<fastestdet_shufflenet_v2_x0_5_coco.pth> (COCO-tuned backbone)."
        )
    builder, enum = builders[fmg.backbone]
    kwargs = {**_transform_kwargs(fmg), **_threshold_kwargs(config)}
    try:
        model = builder(weights=enum, trainable_backbone_layers=fmg.trainable_layers, **kwargs)
    except Exception as exc:
        raise _offline_error(f"COCO weights for {fmg.backbone}", enum, exc) from exc
    in_features = model.roi_heads.box_predictor.cls_score.in_features
    model.roi_heads.box_predictor = FastRCNNPredictor(in_features, config.num_classes)
    set_test_size(model, fmg.test_size_px)
    return model


def _imagenet_enum(backbone: str) -> object:
    from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights

    if backbone == "mobilenet_v3_large_fpn":
        return MobileNet_V3_Large_Weights.IMAGENET1K_V1
    return ResNet50_Weights.IMAGENET1K_V1


def _offline_error(what: str, enum: object, exc: BaseException) -> WeightsUnavailableError:
    url = getattr(enum, "url", "?")
    return WeightsUnavailableError(
        f"could not get torchvision's {what} from {url} ({type(exc).__name__}: {exc}). This "
        "machine is probably offline. Run once where the internet is reachable (torchvision "
        "caches the file under ~/.cache/torch/hub/checkpoints), or copy the file there, or train "
        "the ShuffleNet backbone from a local file with --backbone shufflenet_v2_x0_5_fpn "
        "--backbone-weights FILE."
    )
