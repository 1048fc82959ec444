"""Printed-scale word classifier: training words, training, export (see edge.digitize.textcues)."""
