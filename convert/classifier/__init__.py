"""Workstation side of the interpretation classifier: PTB-XL labels, page-layout masking and
digitization-error augmentation, a small 1D CNN, training, threshold choice, export and metrics."""

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
