"""Train the classifier ensemble on PTB-XL folds 1-8 with page masking and digitization-error
augmentation, pick per-class thresholds on fold 9, and save weights, thresholds and metrics."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import CLASSES
from .augment import apply_mask, augment, layout_mask
from .data import load_meta, load_signals100
from .metrics import best_threshold, multilabel_report

log = logging.getLogger(__name__)

TRAIN_FOLDS = tuple(range(1, 9))
TUNE_FOLD = 9
TEST_FOLD = 10


@dataclass
class TrainConfig:
    epochs: int = 60
    members: int = 3
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    dropout: float = 0.3
    widths: tuple[int, ...] = (32, 48, 64, 96)
    seed: int = 0
    threads: int = 2
    eval_every: int = 5


def encode_batch(xs: list[np.ndarray]) -> np.ndarray:
    """List of (1000, 12) mV (NaN = absent) -> (N, 24, 1000) float32 (NCW for torch)."""
    from edge.interpret.features import encode

    return np.stack([encode(x) for x in xs]).transpose(0, 2, 1).copy()


def raw_views(x: np.ndarray, seed: int = 1234) -> dict[str, np.ndarray]:
    """Deterministic evaluation signals (N, 1000, 12) mV with NaN gaps: 'full' clean, '3x4+1'
    masked, 'aug3x4+1' masked with digitization-like corruption."""
    rng = np.random.default_rng(seed)
    m = layout_mask("3x4+1", x.shape[1])
    return {
        "full": np.asarray(x, dtype=np.float64),
        "3x4+1": np.stack([apply_mask(r, m) for r in x]),
        "aug3x4+1": np.stack([augment(r, rng, layout="3x4+1") for r in x]),
    }


def fixed_views(x: np.ndarray, seed: int = 1234) -> dict[str, np.ndarray]:
    """The `raw_views` encoded as model inputs (NCW)."""
    return {k: encode_batch(list(v)) for k, v in raw_views(x, seed).items()}


def predict(model, x_ncw: np.ndarray, batch: int = 64) -> np.ndarray:
    """Probabilities (N, 5) of an ensemble/net that outputs probabilities."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x_ncw), batch):
            out.append(model(torch.from_numpy(x_ncw[i : i + batch])).numpy())
    return np.concatenate(out)


def train_member(x_tr, y_tr, views_tune, y_tune, cfg: TrainConfig, seed: int):
    """One network; returns the state with the best mean fold-9 macro AUC over the evaluation views."""
    import torch
    from torch import nn

    from .model import build_ensemble, build_net

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net(widths=cfg.widths, dropout=cfg.dropout)
    pos = y_tr.sum(0)
    pos_weight = torch.tensor(
        np.clip((len(y_tr) - pos) / np.maximum(pos, 1), 1.0, 6.0), dtype=torch.float32
    )
    lossf = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * int(np.ceil(len(x_tr) / cfg.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.2
    )
    best, best_state, history = -1.0, None, []
    yt = torch.from_numpy(y_tr)
    for ep in range(cfg.epochs):
        t0 = time.time()
        xe = torch.from_numpy(encode_batch([augment(r, rng) for r in x_tr]))
        net.train()
        perm = rng.permutation(len(x_tr))
        tot = 0.0
        for i in range(0, len(perm), cfg.batch):
            idx = perm[i : i + cfg.batch]
            if len(idx) < 2:
                continue
            opt.zero_grad()
            loss = lossf(net(xe[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        if (ep + 1) % cfg.eval_every == 0 or ep == cfg.epochs - 1:
            ens = build_ensemble([net])
            aucs = {
                k: multilabel_report(y_tune, predict(ens, v), [0.5] * 5, CLASSES)["macro_auc"]
                for k, v in views_tune.items()
            }
            vals = [v for v in aucs.values() if np.isfinite(v)]
            score = float(np.mean(vals)) if vals else float("-inf")
            history.append({"epoch": ep + 1, "loss": tot / len(perm), **aucs})
            log.info(
                "seed %d epoch %d loss %.4f fold9 AUC %s (%.1fs)",
                seed,
                ep + 1,
                tot / len(perm),
                {k: round(v, 3) for k, v in aucs.items()},
                time.time() - t0,
            )
            if score > best and ep + 1 >= cfg.epochs // 3:
                best = score
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if best_state is not None:  # else: the final weights
        net.load_state_dict(best_state)
    return net, {"seed": seed, "best_fold9_mean_auc": best, "history": history}


def train(data_dir: str | Path, out_dir: str | Path, cfg: TrainConfig) -> dict:
    """Train `cfg.members` networks, average them, choose thresholds on fold 9; write out_dir/."""
    import torch

    from .model import build_ensemble

    torch.set_num_threads(cfg.threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metas = [
        m for m in load_meta(data_dir) if m.labels.sum() > 0
    ]  # as PTB-XL's benchmark: labelled only
    x = load_signals100(data_dir, metas, cache=out / "signals100.npz")
    y = np.stack([m.labels for m in metas])
    folds = np.array([m.fold for m in metas])
    tr = np.isin(folds, TRAIN_FOLDS)
    tu = folds == TUNE_FOLD
    log.info(
        "train %d records, tune %d, labels %s",
        tr.sum(),
        tu.sum(),
        dict(zip(CLASSES, y[tr].sum(0).tolist())),
    )
    views = fixed_views(x[tu])
    members, logs = [], []
    for k in range(cfg.members):
        net, info = train_member(x[tr], y[tr], views, y[tu], cfg, seed=cfg.seed + k)
        members.append(net)
        logs.append(info)
    ens = build_ensemble(members)
    ens.eval()
    p_tune = {k: predict(ens, v) for k, v in views.items()}
    # thresholds: maximise F1 per class on fold 9, pooling clean, masked and digitization-like views
    pooled_p = np.concatenate(list(p_tune.values()))
    pooled_y = np.concatenate([y[tu]] * len(p_tune))
    thresholds = [best_threshold(pooled_y[:, k], pooled_p[:, k]) for k in range(len(CLASSES))]
    tune_metrics = {k: multilabel_report(y[tu], p, thresholds, CLASSES) for k, p in p_tune.items()}
    torch.save(
        {"state_dict": ens.state_dict(), "config": asdict(cfg), "members": cfg.members},
        out / "ensemble.pt",
    )
    result = {
        "classes": list(CLASSES),
        "thresholds": thresholds,
        "config": asdict(cfg),
        "n_train": int(tr.sum()),
        "n_tune": int(tu.sum()),
        "fold9": tune_metrics,
        "members": logs,
    }
    (out / "train.json").write_text(json.dumps(result, indent=2))
    # calibration samples for int8 quantization: augmented training inputs (NWC float32)
    rng = np.random.default_rng(99)
    calib = encode_batch([augment(r, rng) for r in x[tr][:200]]).transpose(0, 2, 1)
    np.save(out / "calib_nwc.npy", calib.astype(np.float32))
    return result


def load_ensemble(run_dir: str | Path):
    """The trained ensemble (torch module, eval mode) and train.json of a training run."""
    import torch

    from .model import build_ensemble, build_net

    run = Path(run_dir)
    info = json.loads((run / "train.json").read_text())
    ck = torch.load(run / "ensemble.pt", map_location="cpu", weights_only=False)
    cfg = ck["config"]
    ens = build_ensemble(
        [
            build_net(widths=tuple(cfg["widths"]), dropout=cfg["dropout"])
            for _ in range(ck["members"])
        ]
    )
    ens.load_state_dict(ck["state_dict"])
    ens.eval()
    return ens, info
