"""ecg-convert: the workstation toolchain (printout synthesis, training, ONNX export, int8
quantization, parity and accuracy reports). May import `edge`; `edge` never imports this.

Heavy dependencies (torch, tensorflow, onnx2tf) are imported inside the functions that need them,
so `ecg-convert render` works with numpy and OpenCV alone.
"""
