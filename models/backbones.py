"""High-Performance Feature Map Generator: backbone CNNs + FPN.

``ShuffleNetV2`` is Megvii's original ShuffleNetV2 layout (not torchvision's ``shufflenet_v2``,
whose block layout and channel shuffle differ), so the only pretrained weights reachable here
(FastestDet's, BSD 3-Clause, copyright 2022 xuehao.ma) load into it with ``strict=True``.
torchvision's own backbones (MobileNetV3-Large, ResNet-50) are built through its public
``backbone_utils`` builders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import misc as misc_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from models.errors import BackboneWeightsError

NormLayer = Callable[[int], nn.Module]

#: Output channels of ``first_conv`` and of stage2..4 for the 0.5x width (Megvii's table).
SHUFFLENET_X0_5_CHANNELS = (24, 48, 96, 192)
SHUFFLENET_STAGE_BLOCKS = (4, 8, 4)


class ShuffleV2Block(nn.Module):
    """One ShuffleNetV2 unit in Megvii's layout.

    Stride 2: ``concat(branch_proj(x), branch_main(x))`` with ``in_channels`` -> ``out_channels``.
    Stride 1: channels split by parity, ``concat(even, branch_main(odd))``; ``in_channels`` must be
    ``out_channels`` (the split halves it).
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, stride: int, norm_layer: NormLayer
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        branch_in = in_channels if stride == 2 else in_channels // 2
        mid = out_channels // 2
        branch_out = out_channels - branch_in
        self.branch_main = nn.Sequential(
            nn.Conv2d(branch_in, mid, 1, 1, 0, bias=False),
            norm_layer(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            norm_layer(mid),
            nn.Conv2d(mid, branch_out, 1, 1, 0, bias=False),
            norm_layer(branch_out),
            nn.ReLU(inplace=True),
        )
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(branch_in, branch_in, 3, stride, 1, groups=branch_in, bias=False),
                norm_layer(branch_in),
                nn.Conv2d(branch_in, branch_in, 1, 1, 0, bias=False),
                norm_layer(branch_in),
                nn.ReLU(inplace=True),
            )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 2:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        even, odd = channel_split(x)
        return torch.cat((even, self.branch_main(odd)), 1)


def channel_split(x: Tensor) -> tuple[Tensor, Tensor]:
    """Split channels by parity: (even-indexed, odd-indexed), Megvii's channel shuffle."""
    b, c, h, w = x.shape
    x = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
    return x[0], x[1]


class ChannelOrder(nn.Module):
    """Flip RGB input to BGR (the FastestDet/Megvii convention) when ``bgr`` is true."""

    def __init__(self, bgr: bool) -> None:
        super().__init__()
        self.bgr = bgr

    def forward(self, x: Tensor) -> Tensor:
        return x.flip(1) if self.bgr else x

    def extra_repr(self) -> str:
        return f"bgr={self.bgr}"


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 0.5x trunk (no final 1x1 conv, no classifier): strides 8, 16, 32 out.

    Children run in order (``channel_order``, ``first_conv``, ``maxpool``, ``stage2``..``stage4``)
    so torchvision's ``IntermediateLayerGetter`` can take the stage outputs. ``channel_order``
    has no parameters, so the state dict is exactly Megvii's/FastestDet's.
    """

    def __init__(self, *, bgr: bool = False, norm_layer: NormLayer = nn.BatchNorm2d) -> None:
        super().__init__()
        stem, *stage_channels = SHUFFLENET_X0_5_CHANNELS
        self.channel_order = ChannelOrder(bgr)
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, stem, 3, 2, 1, bias=False), norm_layer(stem), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = stem
        for index, (blocks, out_channels) in enumerate(
            zip(SHUFFLENET_STAGE_BLOCKS, stage_channels, strict=True)
        ):
            stage = nn.Sequential(
                *(
                    ShuffleV2Block(
                        in_channels if i == 0 else out_channels,
                        out_channels,
                        stride=2 if i == 0 else 1,
                        norm_layer=norm_layer,
                    )
                    for i in range(blocks)
                )
            )
            self.add_module(f"stage{index + 2}", stage)
            in_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        for module in self.children():
            x = module(x)
        return x


def read_shufflenet_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a ShuffleNetV2 0.5x state dict from either file in ``../shared/weights``.

    The ImageNet file holds the trunk's keys without prefix; FastestDet's COCO file holds a whole
    detector, whose trunk keys are under ``backbone.`` (its head is dropped here).
    """
    path = Path(path)
    if not path.is_file():
        raise BackboneWeightsError(
            f"backbone weights file not found: {path} (pass the path of "
            "shufflenet_v2_x0_5_imagenet.pth or fastestdet_shufflenet_v2_x0_5_coco.pth)"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BackboneWeightsError(f"cannot read backbone weights {path}: {exc}") from exc
    if isinstance(raw, dict) and "state_dict" in raw:
        raw = raw["state_dict"]
    if not isinstance(raw, dict):
        raise BackboneWeightsError(f"{path} does not hold a state dict")
    if any(k.startswith("backbone.") for k in raw):
        return {k.removeprefix("backbone."): v for k, v in raw.items() if k.startswith("backbone.")}
    return dict(raw)


def load_shufflenet_weights(trunk: ShuffleNetV2, path: str | Path) -> None:
    """Load Megvii-layout weights into ``trunk`` with ``strict=True`` (errors name the file)."""
    state = read_shufflenet_state_dict(path)
    try:
        trunk.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BackboneWeightsError(
            f"{path} does not match the ShuffleNetV2 0.5x Megvii layout: {exc}"
        ) from exc


def shufflenet_v2_x0_5_fpn(
    *,
    weights_backbone: str | Path | None = None,
    fpn_channels: int = 128,
    trainable_layers: int = 5,
    bgr: bool = False,
    frozen_batchnorm: bool = True,
) -> BackboneWithFPN:
    """ShuffleNetV2 0.5x + FPN over its stride-8/16/32 stages, plus a max-pooled stride-64 level.

    Parameters
    ----------
    weights_backbone
        Path of a Megvii-layout state dict (see :func:`read_shufflenet_state_dict`) or ``None``
        for random initialisation.
    fpn_channels
        Channels of each FPN output.
    trainable_layers
        How many of (stage4, stage3, stage2, first_conv) train, counted from the top; 5 or more
        is all.
    bgr
        Feed the trunk BGR (FastestDet's convention) instead of RGB.
    frozen_batchnorm
        ``FrozenBatchNorm2d`` instead of ``BatchNorm2d`` in the trunk.
    """
    norm_layer: NormLayer = misc_ops.FrozenBatchNorm2d if frozen_batchnorm else nn.BatchNorm2d
    trunk = ShuffleNetV2(bgr=bgr, norm_layer=norm_layer)
    if weights_backbone is not None:
        load_shufflenet_weights(trunk, weights_backbone)
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_layers must be in 0..5, got {trainable_layers}")
    trainable = ["stage4", "stage3", "stage2", "first_conv"][:trainable_layers]
    for name, parameter in trunk.named_parameters():
        if not any(name.startswith(layer) for layer in trainable):
            parameter.requires_grad_(False)
    return BackboneWithFPN(
        trunk,
        return_layers={"stage2": "0", "stage3": "1", "stage4": "2"},
        in_channels_list=list(SHUFFLENET_X0_5_CHANNELS[1:]),
        out_channels=fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )


def torchvision_fpn_backbone(
    name: str, *, weights_backbone: object | None, trainable_layers: int
) -> nn.Module:
    """torchvision's ``mobilenet_v3_large_fpn`` or ``resnet50_fpn`` backbone (FrozenBN, 256 ch)."""
    from torchvision.models.detection import backbone_utils

    if name == "mobilenet_v3_large_fpn":
        return backbone_utils.mobilenet_backbone(
            backbone_name="mobilenet_v3_large",
            weights=weights_backbone,
            fpn=True,
            trainable_layers=min(trainable_layers, 6),
        )
    if name == "resnet50_fpn":
        return backbone_utils.resnet_fpn_backbone(
            backbone_name="resnet50", weights=weights_backbone, trainable_layers=trainable_layers
        )
    raise ValueError(f"not a torchvision backbone: {name!r}")
