"""Learned trace segmentation: a tiny U-Net that maps a rectified ECG page (BGR) to a per-pixel
trace probability, trained on synthesized pages and shipped as an int8 TFLite model."""
