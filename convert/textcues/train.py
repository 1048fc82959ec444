"""Train the printed-scale word classifier (a small 2D CNN, PyTorch) on words rendered in this
machine's TrueType fonts, check it on words in OpenCV's Hershey fonts (never trained on: the
synthesizer's, so a held-out font family), export ONNX and quantize to int8 TFLite."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.digitize.textcues import CLASSES, WORD_H, WORD_W, normalise_word

from .words import find_fonts, make_dataset, sample_word

INPUT_NAME, OUTPUT_NAME = "word", "probs"


@dataclass
class TrainConfig:
    out: str = "runs/textcues"
    n_train: int = 60000
    n_val: int = 4000
    epochs: int = 8
    batch: int = 128
    lr: float = 3e-3
    threads: int = 2
    seed: int = 0


def build_net(n_out: int = len(CLASSES)):
    """Conv-BN-ReLU stages with pooling, global average+max pooling, linear head (~60k params)."""
    import torch
    from torch import nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    class WordNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                *block(1, 16),
                nn.MaxPool2d(2),
                *block(16, 32),
                nn.MaxPool2d(2),
                *block(32, 48),
                *block(48, 48),
                nn.MaxPool2d(2),
                *block(48, 64),
            )
            self.head = nn.Linear(128, n_out)

        def forward(self, x):
            h = self.features(x)
            h = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
            return self.head(h)

    return WordNet()


def hershey_words(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Words drawn with OpenCV's Hershey fonts (held out), blurred and down-scaled like a page."""
    rng = np.random.default_rng(seed)
    fonts = [
        cv2.FONT_HERSHEY_SIMPLEX,
        cv2.FONT_HERSHEY_DUPLEX,
        cv2.FONT_HERSHEY_PLAIN,
        cv2.FONT_HERSHEY_COMPLEX,
        cv2.FONT_HERSHEY_TRIPLEX,
    ]
    X = np.zeros((n, WORD_H, WORD_W), np.float32)
    y = np.zeros(n, np.int64)
    for i in range(n):
        w = sample_word(rng)
        f = fonts[int(rng.integers(0, len(fonts)))]
        scale = 1.2
        (tw, th), base = cv2.getTextSize(w.text, f, scale, 2)
        img = np.zeros((th + base + 20, tw + 20), np.float32)
        cv2.putText(img, w.text, (10, 10 + th), f, scale, 1.0, int(rng.integers(1, 3)), cv2.LINE_AA)
        s = float(rng.uniform(9, 20)) / th
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.0)))
        img = np.clip(img * rng.uniform(0.4, 1.0) + rng.normal(0, 0.03, img.shape), 0, 1).astype(
            np.float32
        )
        ys, xs = np.nonzero(img > 0.5 * img.max())
        X[i] = normalise_word(img, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        y[i] = w.label
    return X, y


def _accuracy(net, X: np.ndarray, y: np.ndarray) -> dict:
    import torch

    net.eval()
    with torch.no_grad():
        P = torch.softmax(net(torch.from_numpy(X[:, None])), dim=1).numpy()
    k = P.argmax(1)
    conf = P.max(1) >= 0.9
    scale = y != 0
    # What matters on the device: a scale word read as another scale value (a wrong speed or
    # gain) must be rare; a scale word read as "other" only loses the cue.
    wrong_value = (k != y) & (k != 0) & conf
    return {
        "accuracy": round(float((k == y).mean()), 4),
        "scale_words_read": round(float(((k == y) & conf)[scale].mean()), 4),
        "confident_wrong_value": round(float(wrong_value.mean()), 5),
    }


def train(cfg: TrainConfig, log=print) -> dict:
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    fonts = find_fonts()
    if not fonts:
        raise RuntimeError("no TrueType fonts found under /usr/share/fonts")
    log(f"{len(fonts)} fonts; rendering {cfg.n_train} training words")
    t0 = time.time()
    Xtr, ytr = make_dataset(cfg.n_train, cfg.seed, fonts)
    Xva, yva = make_dataset(cfg.n_val, cfg.seed + 1, fonts)
    Xhe, yhe = hershey_words(cfg.n_val, cfg.seed + 2)
    log(f"rendered in {time.time() - t0:.0f} s")
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * (len(Xtr) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    lossf = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(cfg.seed)
    hist = []
    for ep in range(cfg.epochs):
        net.train()
        order = rng.permutation(len(Xtr))
        tl = 0.0
        for b in range(len(Xtr) // cfg.batch):
            idx = order[b * cfg.batch : (b + 1) * cfg.batch]
            x = torch.from_numpy(Xtr[idx, None])
            loss = lossf(net(x), torch.from_numpy(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tl += float(loss)
        h = {
            "epoch": ep + 1,
            "loss": round(tl / (len(Xtr) // cfg.batch), 4),
            "val": _accuracy(net, Xva, yva),
            "hershey_held_out": _accuracy(net, Xhe, yhe),
        }
        hist.append(h)
        log(json.dumps(h))
    torch.save(net.state_dict(), out / "textcues.pt")
    np.save(out / "calib.npy", Xtr[:400, :, :, None])
    res = {"config": asdict(cfg), "fonts": [Path(f).name for f in fonts], "history": hist}
    (out / "history.json").write_text(json.dumps(res, indent=1))
    return res


def export_onnx(run_dir: str | Path) -> Path:
    """The trained net with a softmax, as ONNX (opset 17), input `word` (1, 1, WORD_H, WORD_W)."""
    import torch

    run = Path(run_dir)
    net = build_net()
    net.load_state_dict(torch.load(run / "textcues.pt"))
    net.eval()

    class WithSoftmax(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, x):
            return torch.softmax(self.m(x), dim=1)

    path = run / "textcues.onnx"
    torch.onnx.export(
        WithSoftmax(net),
        torch.zeros(1, 1, WORD_H, WORD_W),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=17,
        dynamo=False,
    )
    return path
