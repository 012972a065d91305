"""Inference-time rewrites of a trained detector: the same outputs (up to rounding), less work.

:func:`optimize_for_inference` is what :class:`models.inference.Detector` applies on load:

- every batch norm (``FrozenBatchNorm2d``, or ``BatchNorm2d`` with running statistics) right
  after a ``Conv2d`` is folded into that convolution's weights and bias (in eval mode a norm is a
  per-channel affine map, so ``bn(conv(x))`` is one convolution): two elementwise passes over each
  feature map fewer;
- the ShuffleNet trunk's RGB -> BGR channel flip is folded into the first convolution (its input
  channels reversed), so the image is not copied;
- the convolutions run in channels-last memory layout (NHWC: the weights converted once, each
  batch on its way into the backbone), which oneDNN's CPU kernels run faster than NCHW (about
  1.2x on the shipped model on 2 cores; every layer after it takes either layout);
- torchvision's ``GeneralizedRCNNTransform`` skips the resize when the image already has the size
  it would be resized to (the fast path prepares it so) and the normalisation when it is the
  identity (mean 0, std 1): both were copies of the whole image that changed nothing.

Training never sees these: checkpoints keep the model as trained.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops.misc import FrozenBatchNorm2d

from models.backbones import ChannelOrder


def fold_batchnorm(module: nn.Module) -> int:
    """Fold each batch norm that directly follows a ``Conv2d`` in an ``nn.Sequential``.

    The convolution gets the norm's scale and shift; the norm becomes ``nn.Identity`` (so module
    indices and names stay). Only for inference: ``module`` must be in eval mode. Returns how many
    norms were folded.
    """
    if module.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (call .eval() first)")
    folded = 0
    for sequential in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        children = list(sequential.named_children())
        for (conv_name, conv), (norm_name, norm) in itertools.pairwise(children):
            if not (isinstance(conv, nn.Conv2d) and _is_foldable(norm)):
                continue
            scale = (norm.running_var + norm.eps).rsqrt()
            shift = -norm.running_mean * scale
            if norm.weight is not None:  # BatchNorm2d(affine=False) has no weight or bias
                scale, shift = scale * norm.weight, shift * norm.weight + norm.bias
            fused = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                conv.stride,
                conv.padding,
                conv.dilation,
                conv.groups,
                bias=True,
                padding_mode=conv.padding_mode,
            ).to(conv.weight.device, conv.weight.dtype)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                fused.bias.copy_(shift if conv.bias is None else conv.bias * scale + shift)
            setattr(sequential, conv_name, fused)
            setattr(sequential, norm_name, nn.Identity())
            folded += 1
    return folded


def _is_foldable(norm: nn.Module) -> bool:
    if isinstance(norm, FrozenBatchNorm2d):
        return True
    return isinstance(norm, nn.BatchNorm2d) and norm.running_mean is not None


def fold_channel_order(model: nn.Module) -> bool:
    """Fold a BGR ``ChannelOrder`` into the first convolution after it; True when one was folded."""
    body = getattr(getattr(model, "backbone", None), "body", None)
    order = getattr(body, "channel_order", None)
    if not isinstance(order, ChannelOrder) or not order.bgr:
        return False
    first = next(m for m in body.first_conv.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        first.weight.copy_(first.weight.flip(1))
    order.bgr = False
    return True


class PreparedImageTransform(GeneralizedRCNNTransform):
    """``GeneralizedRCNNTransform`` that leaves out identity work in eval mode.

    Resizing an image whose scale factor comes out as exactly 1 (it already has the model's input
    size) and normalising with mean 0 / std 1 both return the input unchanged, bit for bit; here
    they are skipped instead of computed.
    """

    @classmethod
    def from_transform(cls, transform: GeneralizedRCNNTransform) -> PreparedImageTransform:
        new = cls(
            transform.min_size,
            transform.max_size,
            transform.image_mean,
            transform.image_std,
            size_divisible=transform.size_divisible,
            fixed_size=transform.fixed_size,
            _skip_resize=transform._skip_resize,
        )
        new.train(transform.training)
        return new

    def normalize(self, image: Tensor) -> Tensor:
        if not self.training and _is_identity(self.image_mean, self.image_std):
            return image
        return super().normalize(image)

    def resize(
        self, image: Tensor, target: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor] | None]:
        if not self.training and target is None and self.fixed_size is None:
            sides = image.shape[-2:]
            # the factor torchvision's _resize_image_and_masks computes; 1.0 leaves every pixel
            if min(self.min_size[-1] / min(sides), self.max_size / max(sides)) == 1.0:
                return image, target
        return super().resize(image, target)


def _is_identity(mean: list[float], std: list[float]) -> bool:
    return all(m == 0 for m in mean) and all(s == 1 for s in std)


def use_channels_last(model: nn.Module) -> bool:
    """Convert the model's convolution weights to channels-last layout and make its backbone
    take each batch in that layout; True when done (False: no backbone, or already done)."""
    backbone = getattr(model, "backbone", None)
    if backbone is None or getattr(backbone, "channels_last", False):
        return False
    model.to(memory_format=torch.channels_last)
    backbone.register_forward_pre_hook(_batch_to_channels_last)
    backbone.channels_last = True
    return True


def _batch_to_channels_last(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    images, *rest = args
    return (images.contiguous(memory_format=torch.channels_last), *rest)


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """Apply the rewrites above to a model in eval mode, in place; returns it."""
    model.eval()
    fold_batchnorm(model)
    fold_channel_order(model)
    use_channels_last(model)
    transform = getattr(model, "transform", None)
    if isinstance(transform, GeneralizedRCNNTransform) and not isinstance(
        transform, PreparedImageTransform
    ):
        model.transform = PreparedImageTransform.from_transform(transform)
    return model
