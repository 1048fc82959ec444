"""Recover float TraceUNet weights from a shipped int8 segmenter, so a new run can warm-start from
the model on the device when its training checkpoint is gone.

onnx2tf folds every BatchNorm into its convolution and keeps the convolutions in the PyTorch
forward order; the int8 weights are dequantized (per-channel scales) and loaded with each BN set
to pass the folded bias through. `recalibrate_bn` then gives each BN the running statistics of
real batches (keeping the eval-mode function unchanged), so training-mode BN starts where the
shipped model is instead of renormalizing its activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _dequantize(t: dict, data: np.ndarray) -> np.ndarray:
    q = t["quantization_parameters"]
    scales = np.asarray(q["scales"], np.float64)
    zeros = np.asarray(q["zero_points"], np.float64)
    if scales.size == 0:
        return data.astype(np.float64)
    axis = int(q.get("quantized_dimension", 0))
    shape = [1] * data.ndim
    if scales.size > 1:
        shape[axis] = scales.size
    if zeros.size != scales.size:
        zeros = np.broadcast_to(zeros.reshape(-1)[:1], scales.shape)
    return (data.astype(np.float64) - zeros.reshape(shape)) * scales.reshape(shape)


def tflite_conv_weights(path: str | Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(kind, float weight in PyTorch OIHW layout, float bias) of every CONV_2D and
    DEPTHWISE_CONV_2D of the TFLite model, in graph order."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    td = {t["index"]: t for t in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():
        kind = op["op_name"]
        if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        wi, bi = op["inputs"][1], op["inputs"][2]
        w = _dequantize(td[wi], it.get_tensor(wi))
        b = _dequantize(td[bi], it.get_tensor(bi))
        # TFLite conv: OHWI; depthwise: 1HWC
        w = w.transpose(0, 3, 1, 2) if kind == "CONV_2D" else w.transpose(3, 0, 1, 2)
        out.append((kind, w.astype(np.float32), b.astype(np.float32)))
    return out


def model_from_tflite(path: str | Path, widths=(8, 16, 24, 32, 48)):
    """A TraceUNet whose eval-mode output equals the int8 model's float function (up to the
    activation quantization): convolutions in forward order take the dequantized weights."""
    import torch
    from torch import nn

    from .model import TraceUNet

    model = TraceUNet(widths=tuple(widths))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = {}
    mods = list(model.modules())
    for i, m in enumerate(mods):  # the BN right after each conv (conv_bn and DWSep order)
        if (
            isinstance(m, nn.Conv2d)
            and i + 1 < len(mods)
            and isinstance(mods[i + 1], nn.BatchNorm2d)
        ):
            bns[id(m)] = mods[i + 1]
    tfl = tflite_conv_weights(path)
    if len(tfl) != len(convs):
        raise ValueError(f"{path}: {len(tfl)} convolutions, TraceUNet{widths} has {len(convs)}")
    with torch.no_grad():
        for conv, (_, w, b) in zip(convs, tfl):
            if tuple(conv.weight.shape) != w.shape:
                raise ValueError(
                    f"{path}: weight {w.shape} where TraceUNet has {tuple(conv.weight.shape)}"
                )
            conv.weight.copy_(torch.from_numpy(w))
            bn = bns.get(id(conv))
            if bn is None:
                conv.bias.copy_(torch.from_numpy(b))
                continue
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
    return model.eval()


def recalibrate_bn(model, xs: np.ndarray, batch: int = 8) -> None:
    """Give every BN the mean/variance of its input over `xs` (N, 3, H, W) while keeping the
    eval-mode function: weight = sqrt(var + eps), bias += mean, so y = x + old bias still."""
    import torch
    from torch import nn

    stats: dict[int, list] = {}

    def hook(mod, inp, _out):
        x = inp[0].detach().double()
        stats.setdefault(id(mod), []).append((x.mean(dim=(0, 2, 3)), (x * x).mean(dim=(0, 2, 3))))

    hooks = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.BatchNorm2d)
    ]
    model.eval()
    with torch.no_grad():
        for i in range(0, len(xs), batch):
            model(torch.from_numpy(xs[i : i + batch]))
    for h in hooks:
        h.remove()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                mu = torch.stack([s[0] for s in stats[id(m)]]).mean(0)
                sq = torch.stack([s[1] for s in stats[id(m)]]).mean(0)
                var = (sq - mu * mu).clamp_min(1e-6)
                # old eval function: y = (x - rm) / sqrt(rv + eps) * w + b, with rm = 0,
                # rv + eps = 1, w = 1 when loaded from TFLite: y = x + b
                scale = m.weight.double() / torch.sqrt(m.running_var.double() + m.eps)
                shift = m.bias.double() - m.running_mean.double() * scale
                m.running_mean.copy_(mu.float())
                m.running_var.copy_(var.float())
                new_w = scale * torch.sqrt(var + m.eps)
                m.weight.copy_(new_w.float())
                m.bias.copy_((shift + mu * scale).float())
