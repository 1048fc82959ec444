"""ecg-edge: the device side of the offline paper-ECG reader (capture, digitize, classify, store, sync).

Never imports `convert`, torch or tensorflow: this package must install and run on a Raspberry Pi
with numpy, OpenCV, wfdb and a TFLite interpreter only.
"""

__version__ = "0.1.0"
