"""TraceUNet: a 4-level U-Net small enough for whole-page int8 inference on a 2-core CPU.

Full resolution only carries a 3x3 stem (3->8), a 1x1 fuse and a 3x3 head; everything else runs at
1/2 .. 1/16 resolution with depthwise-separable convolutions, about 1 kMAC per input pixel. The
receptive field (~100 px) is wide enough to tell a trace from grid lines, text and handwriting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class DWSep(nn.Module):
    """Depthwise 3x3 (optionally strided / dilated) + pointwise 1x1, each with BN and ReLU."""

    def __init__(self, cin: int, cout: int, s: int = 1, d: int = 1) -> None:
        super().__init__()
        self.dw = nn.Sequential(
            nn.Conv2d(cin, cin, 3, s, d, dilation=d, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
        )
        self.pw = conv_bn(cin, cout, k=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class TraceUNet(nn.Module):
    """BGR page in [0, 1] (N, 3, H, W), H and W multiples of 16 -> trace logits or probability (N, 1, H, W)."""

    def __init__(
        self,
        in_ch: int = 3,
        widths: tuple[int, int, int, int, int] = (8, 16, 24, 32, 48),
        probability: bool = False,
    ) -> None:
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.widths = widths
        self.probability = probability
        self.stem = conv_bn(in_ch, w0)  # 1
        self.down1 = nn.Sequential(conv_bn(w0, w1, s=2), DWSep(w1, w1))  # 1/2
        self.down2 = nn.Sequential(DWSep(w1, w2, s=2), DWSep(w2, w2))  # 1/4
        self.down3 = nn.Sequential(DWSep(w2, w3, s=2), DWSep(w3, w3))  # 1/8
        self.down4 = nn.Sequential(DWSep(w3, w4, s=2), DWSep(w4, w4, d=2), DWSep(w4, w4))  # 1/16
        self.up3 = DWSep(w4 + w3, w3)
        self.up2 = DWSep(w3 + w2, w2)
        self.up1 = DWSep(w2 + w1, w1)
        self.fuse = conv_bn(w1 + w0, w0, k=1)
        self.head = nn.Conv2d(w0, 1, 3, 1, 1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.stem(x)
        s1 = self.down1(s0)
        s2 = self.down2(s1)
        s3 = self.down3(s2)
        b = self.down4(s3)
        y = self.up3(torch.cat([self._up(b), s3], 1))
        y = self.up2(torch.cat([self._up(y), s2], 1))
        y = self.up1(torch.cat([self._up(y), s1], 1))
        y = self.fuse(torch.cat([self._up(y), s0], 1))
        y = self.head(y)
        return torch.sigmoid(y) if self.probability else y


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def macs_per_pixel(m: TraceUNet, size: int = 256) -> float:
    """Multiply-accumulates per input pixel (conv layers only), measured with forward hooks."""
    total = [0]

    def hook(mod: nn.Conv2d, inp, out) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total[0] += out.numel() * k

    hs = [c.register_forward_hook(hook) for c in m.modules() if isinstance(c, nn.Conv2d)]
    with torch.no_grad():
        m.eval()(torch.zeros(1, 3, size, size, device=next(m.parameters()).device))
    for h in hs:
        h.remove()
    return total[0] / (size * size)
