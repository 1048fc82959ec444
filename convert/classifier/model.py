"""A small 1D CNN for multi-label 12-lead classification on partial records, and an ensemble
wrapper that averages the members' sigmoid outputs (exported as one model)."""

from __future__ import annotations


def _torch():
    import torch
    from torch import nn

    return torch, nn


def build_net(
    n_in: int = 24, n_out: int = 5, widths: tuple[int, ...] = (32, 48, 64, 96), dropout: float = 0.3
):
    """Stride-2 conv stages (conv-BN-ReLU x2) then global average+max pooling and a linear head.

    Input (N, 24, 1000): 12 signal channels + 12 presence channels at 100 Hz. ~110k parameters:
    PTB-XL's 450 records here cannot support more."""
    torch, nn = _torch()

    def block(cin, cout, k, s):
        return [
            nn.Conv1d(cin, cout, k, stride=s, padding=k // 2, bias=False),
            nn.BatchNorm1d(cout),
            nn.ReLU(),
        ]

    class EcgNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers = block(n_in, widths[0], 7, 2)
            prev = widths[0]
            for w in widths:
                layers += block(prev, w, 5, 2) + block(w, w, 3, 1)
                prev = w
            self.features = nn.Sequential(*layers)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(2 * prev, n_out)

        def forward(self, x):
            h = self.features(x)
            h = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
            return self.head(self.drop(h))

    return EcgNet()


def build_ensemble(members: list, nwc_input: bool = False):
    """Module averaging sigmoid(member(x)); input (N, 24, 1000), output (N, 5) probabilities."""
    torch, nn = _torch()

    class Ensemble(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList(members)

        def forward(self, x):
            ps = [torch.sigmoid(m(x)) for m in self.members]
            return torch.stack(ps, dim=0).mean(dim=0)

    return Ensemble()
