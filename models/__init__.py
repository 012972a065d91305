"""The detector (torchvision Faster R-CNN configured as the paper's five modules), taxonomy,
datasets, training and evaluation. Knows nothing about databases or maps."""
