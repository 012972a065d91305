"""One configuration object for the detector, in five parts named after the paper's modules.

Each part documents the paper's words and the torchvision argument it sets, so the config reads as
the paper does and builds torchvision's :class:`~torchvision.models.detection.FasterRCNN` (see
``models.detector.build_detector``) without re-implementing any of it.

=============================================  ===============================================
paper's module                                 torchvision
=============================================  ===============================================
High-Performance Feature Map Generator         backbone + FPN, ``GeneralizedRCNNTransform`` sizes
Candidate Object Locator                       ``AnchorGenerator`` + ``RPNHead``
Foreground-Background Classification Score    RPN objectness (``rpn_score_thresh``, pre-NMS top-N)
Regression-Based Proposal Selector (RBPS)      box deltas + NMS (``rpn_nms_thresh``, post-NMS top-N)
Object Localization & Live Detection           ``MultiScaleRoIAlign`` + box head + final NMS
=============================================  ===============================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

BACKBONES = ("shufflenet_v2_x0_5_fpn", "mobilenet_v3_large_fpn", "resnet50_fpn")
INPUT_FORMATS = ("rgb", "bgr")


@dataclass(frozen=True)
class FeatureMapGenerator:
    """High-Performance Feature Map Generator: the backbone CNN + FPN and the input size.

    Attributes
    ----------
    backbone
        ``shufflenet_v2_x0_5_fpn`` (Megvii-layout ShuffleNetV2 0.5x, loads ``../shared/weights``),
        ``mobilenet_v3_large_fpn`` or ``resnet50_fpn`` (torchvision's).
    fpn_channels
        Channels of every FPN level (torchvision ``FeaturePyramidNetwork(out_channels=...)``);
        ShuffleNet only, torchvision's backbones use their own (256).
    train_sizes_px
        Shorter image side during training, one picked at random per batch (multi-scale
        training; ``GeneralizedRCNNTransform(min_size=...)``).
    test_size_px
        Shorter image side at inference.
    max_size_px
        Longest side cap (``GeneralizedRCNNTransform(max_size=...)``).
    trainable_layers
        Backbone stages that train (0-5, torchvision's ``trainable_backbone_layers``).
    input_format
        ``rgb``: RGB normalised with ImageNet mean/std (torchvision default); ``bgr``: BGR in
        0-1 without mean/std, the convention FastestDet tuned its ShuffleNet with.
    frozen_batchnorm
        Use ``FrozenBatchNorm2d`` (statistics and affine fixed) in the backbone: small batches
        cannot estimate batch statistics.
    """

    backbone: str = "shufflenet_v2_x0_5_fpn"
    fpn_channels: int = 128
    train_sizes_px: tuple[int, ...] = (640,)
    test_size_px: int = 640
    max_size_px: int = 1333
    trainable_layers: int = 5
    input_format: str = "rgb"
    frozen_batchnorm: bool = True


@dataclass(frozen=True)
class CandidateObjectLocator:
    """Candidate Object Locator: anchors slid over each feature map by the RPN head.

    ``anchor_sizes_px`` holds one tuple of sizes (pixels, in the resized input) per feature map,
    finest first (torchvision ``AnchorGenerator(sizes=...)``); every size is combined with every
    ``aspect_ratios`` value (height / width). Litter is small, so the sizes start at 16 px.
    """

    anchor_sizes_px: tuple[tuple[int, ...], ...] = ((16, 24), (32, 48), (64, 96), (128, 256))
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ForegroundBackgroundScore:
    """Foreground-Background Classification Score: the RPN objectness of each anchor.

    ``objectness_threshold`` drops proposals whose objectness probability is lower
    (``rpn_score_thresh``); ``pre_nms_top_n_*`` keeps that many top-scoring anchors per feature
    map before NMS (``rpn_pre_nms_top_n_train`` / ``_test``).
    """

    objectness_threshold: float = 0.0
    pre_nms_top_n_train: int = 1000
    pre_nms_top_n_test: int = 500


@dataclass(frozen=True)
class RegressionProposalSelector:
    """Regression-Based Proposal Selector (RBPS): box deltas (dx, dy, dw, dh), ranking and NMS.

    ``nms_iou`` is the IoU above which a lower-ranked proposal is suppressed (``rpn_nms_thresh``);
    ``post_nms_top_n_*`` proposals survive per image (``rpn_post_nms_top_n_train`` / ``_test``).
    """

    nms_iou: float = 0.7
    post_nms_top_n_train: int = 1000
    post_nms_top_n_test: int = 300


@dataclass(frozen=True)
class ObjectLocalization:
    """Object Localization & Live Detection: RoI pooling, box head, class scores, final NMS.

    Attributes
    ----------
    score_threshold
        Detections scoring lower are dropped (``box_score_thresh``).
    nms_iou
        Per-class NMS IoU of the final boxes (``box_nms_thresh``).
    detections_per_image
        At most this many detections per image (``box_detections_per_img``).
    representation_size
        Width of the two-layer box head (``TwoMLPHead``); torchvision's stock head is 1024 wide,
        which would not fit a 25 MB checkpoint and is slow on CPU.
    roi_output_size
        ``MultiScaleRoIAlign(output_size=...)``.
    rois_per_image_train
        RoIs sampled per image to train the box head (``box_batch_size_per_image``).
    """

    score_threshold: float = 0.05
    nms_iou: float = 0.5
    detections_per_image: int = 100
    representation_size: int = 256
    roi_output_size: int = 7
    rois_per_image_train: int = 256


@dataclass(frozen=True)
class DetectorConfig:
    """The whole detector: class names plus the paper's five modules."""

    class_names: tuple[str, ...] = ()
    feature_map_generator: FeatureMapGenerator = field(default_factory=FeatureMapGenerator)
    candidate_object_locator: CandidateObjectLocator = field(default_factory=CandidateObjectLocator)
    foreground_background_score: ForegroundBackgroundScore = field(
        default_factory=ForegroundBackgroundScore
    )
    regression_proposal_selector: RegressionProposalSelector = field(
        default_factory=RegressionProposalSelector
    )
    object_localization: ObjectLocalization = field(default_factory=ObjectLocalization)

    def __post_init__(self) -> None:
        fmg = self.feature_map_generator
        if fmg.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {fmg.backbone!r}; choose one of {BACKBONES}")
        if fmg.input_format not in INPUT_FORMATS:
            raise ValueError(
                f"unknown input_format {fmg.input_format!r}; choose one of {INPUT_FORMATS}"
            )

    @property
    def num_classes(self) -> int:
        """Classes including torchvision's background class 0."""
        return len(self.class_names) + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/YAML-safe apart from tuples) for checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so old checkpoints still load."""
        parts = {
            "feature_map_generator": FeatureMapGenerator,
            "candidate_object_locator": CandidateObjectLocator,
            "foreground_background_score": ForegroundBackgroundScore,
            "regression_proposal_selector": RegressionProposalSelector,
            "object_localization": ObjectLocalization,
        }
        kwargs: dict[str, Any] = {"class_names": tuple(data.get("class_names", ()))}
        for name, part_cls in parts.items():
            raw = data.get(name, {})
            known = {f.name for f in fields(part_cls)}
            kwargs[name] = part_cls(**{k: _tuplify(v) for k, v in raw.items() if k in known})
        return cls(**kwargs)

    def with_classes(self, class_names: tuple[str, ...] | list[str]) -> DetectorConfig:
        """A copy with other class names."""
        return replace(self, class_names=tuple(class_names))


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value
