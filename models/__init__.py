"""The detector (torchvision Faster R-CNN configured as the paper's five modules), taxonomy,
datasets, training and evaluation. Knows nothing about databases or maps.

One module per concept, read in the order of the paper's pipeline:

- ``config``: :class:`~models.config.DetectorConfig`, five parts named after the paper's modules
- ``backbones``: High-Performance Feature Map Generator (Megvii ShuffleNetV2 0.5x + FPN, and
  torchvision's MobileNetV3 / ResNet-50 FPN backbones)
- ``detector``: builds torchvision's ``FasterRCNN`` from a config (``build_detector``)
- ``taxonomy``: the eight platform categories and the label -> category table
- ``datasets``: COCO / YOLO / VOC readers into torchvision's target dicts
- ``transforms``: training augmentation
- ``training``: the seeded, resumable training loop
- ``evaluation``: COCO metrics through faster-coco-eval, PR curves
- ``checkpoint``: self-describing checkpoints, fp16 export
- ``inference``: :class:`~models.inference.Detector`, the fast batched CPU path
- ``explain``: drawings of detections and of the inside of the detector
- ``errors``: the named errors a user can cause
"""
