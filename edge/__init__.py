"""ecg-edge: the device side of the offline paper-ECG reader (capture, digitize, classify, store, sync).

Never imports `convert`, torch or tensorflow: this package must install and run on a Raspberry Pi
with numpy, OpenCV, wfdb and a TFLite interpreter only.
"""

import os

__version__ = "0.1.0"

# The pixel budget of any image the device decodes (~120 MP: a 600 dpi A4 scan is 35 MP; more
# can exhaust a Pi). edge.imageio checks every header against it before decoding; OpenCV's own
# limit, read once when cv2 loads, is set here, before any module of this package imports cv2.
MAX_IMAGE_PIXELS = 120_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
