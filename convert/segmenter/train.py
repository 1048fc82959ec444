"""Train TraceUNet on cached rectified synthesizer pages: resumable from `last.pt`, progress printed,
best model by fold-9 validation F1 kept as `best.pt`, exported to ONNX with calibration tiles."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class TrainConfig:
    data: str = "../shared/data/ptbxl500"
    out: str = "runs/seg"
    train_pages: int = 240
    val_pages: int = 24
    steps: int = 3000
    batch: int = 12
    crop: int = 192
    lr: float = 3e-3
    weight_decay: float = 1e-4
    pos_weight: float = 3.0
    threads: int = 2
    minutes: float = 40.0  # wall-clock budget for this run (training stops and saves)
    val_every: int = 200
    px_per_mm: float = 0.0  # 0: the digitizer's working resolution
    tile: int = 256  # exported tile size (input (1, 3, tile, tile))
    widths: tuple = (8, 16, 24, 32, 48)
    seed: int = 0
    modes: tuple = ("clean", "scan", "photo")
    target_dilate: int = (
        0  # grow the rectified trace masks by N px (1 gave softer maps: fold-9 photos -0.5 dB)
    )
    init: str = ""  # warm start: weights from this checkpoint (or a shipped int8 .tflite)
    kit_pages: int = 0  # ecg-image-kit training pages (folds 1-8) mixed with the synthesizer's
    kit_val_pages: int = 0  # ecg-image-kit validation pages (fold 9)
    kit_render: str = "../shared/tools/kit-render"
    kit_cache: str = ""  # where kit pages are cached (default <out>/cache/kit)
    # train on the kit pages already in the cache and pick up the ones another process (a
    # build_kit_cache still running) adds there while training runs, instead of waiting for all
    kit_refresh: bool = False
    device: str = "auto"  # "auto" (CUDA when there is one), "cpu", "cuda"
    workers: int = 0  # processes rendering pages and preparing batches (0: in-line)
    extra: dict = field(default_factory=dict)


def _loss(logits, target, pos_weight: float):
    import torch
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor(pos_weight, device=logits.device)
    )
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
    return bce + dice.mean()


def evaluate(model, xs: np.ndarray, ys: np.ndarray, pos_weight: float, batch: int = 8) -> dict:
    """Validation loss, precision, recall, F1 and IoU at p >= 0.5 on fixed crops."""
    import torch

    dev = next(model.parameters()).device
    model.eval()
    tp = fp = fn = 0.0
    losses = []
    with torch.no_grad():
        for i in range(0, len(xs), batch):
            x = (
                torch.from_numpy(xs[i : i + batch])
                .to(dev)
                .contiguous(memory_format=torch.channels_last)
            )
            y = torch.from_numpy(ys[i : i + batch]).to(dev)
            lo = model(x)
            losses.append(float(_loss(lo, y, pos_weight)))
            pr = (lo > 0).float()
            tp += float((pr * y).sum())
            fp += float((pr * (1 - y)).sum())
            fn += float(((1 - pr) * y).sum())
    model.train()
    prec = tp / max(tp + fp, 1)
    rec = tp / max(tp + fn, 1)
    return {
        "loss": float(np.mean(losses)),
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / max(prec + rec, 1e-9),
        "iou": tp / max(tp + fp + fn, 1),
    }


def _batches(pages: list, cfg: TrainConfig, seed: tuple, workers: int):
    """Endless training batches (numpy x, y); with `workers`, prepared ahead by a torch DataLoader's
    worker processes (on a GPU the crops' augmentation, not the model, is the bottleneck)."""
    import torch

    from .data import sample_batch

    class Crops(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            rng = np.random.default_rng([*seed, info.id if info else 0])
            while True:
                yield sample_batch(pages, rng, cfg.batch, cfg.crop, train=True)

    if workers <= 0:
        yield from iter(Crops())
        return
    loader = torch.utils.data.DataLoader(
        Crops(), batch_size=None, num_workers=workers, prefetch_factor=4
    )
    for x, y in loader:
        yield x.numpy(), y.numpy()


def _device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def train(cfg: TrainConfig, *, resume: bool = False, log=print) -> Path:
    """Run (or resume) training; returns the path of the best checkpoint."""
    import torch

    from .data import build_cache, load_cache, sample_batch, work_px_per_mm
    from .model import TraceUNet, count_params, macs_per_pixel

    torch.set_num_threads(max(1, cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    px = cfg.px_per_mm or work_px_per_mm()
    cfg.px_per_mm = px
    last, best = out / "last.pt", out / "best.pt"

    log(f"rendering training pages (folds 1-8) at {px:.2f} px/mm into {out / 'cache'} ...")
    jobs = max(1, cfg.workers)
    tr_paths = build_cache(
        cfg.data,
        tuple(range(1, 9)),
        out / "cache" / "train",
        cfg.train_pages,
        px_per_mm=px,
        seed=cfg.seed + 1,
        modes=tuple(cfg.modes),
        jobs=jobs,
    )
    log("rendering validation pages (fold 9) ...")
    va_paths = build_cache(
        cfg.data,
        (9,),
        out / "cache" / "val",
        cfg.val_pages,
        px_per_mm=px,
        seed=cfg.seed + 9,
        modes=tuple(cfg.modes),
        jobs=jobs,
    )
    if cfg.kit_pages or cfg.kit_val_pages:
        from .kit_data import build_kit_cache

        kit_dir = Path(cfg.kit_cache or out / "cache" / "kit")
        log(f"rendering ecg-image-kit pages into {kit_dir} ...")
        if cfg.kit_refresh:
            tr_paths += _kit_pages_now(kit_dir / "train", cfg.kit_pages)
        else:
            tr_paths += build_kit_cache(
                cfg.data,
                tuple(range(1, 9)),
                kit_dir / "train",
                cfg.kit_pages,
                px_per_mm=px,
                kit_render=cfg.kit_render,
                seed=cfg.seed + 1,
            )
        va_paths += build_kit_cache(
            cfg.data,
            (9,),
            kit_dir / "val",
            cfg.kit_val_pages,
            px_per_mm=px,
            kit_render=cfg.kit_render,
            seed=cfg.seed + 9,
        )
    tr_pages = load_cache(tr_paths, dilate=cfg.target_dilate)
    va_pages = load_cache(va_paths, dilate=cfg.target_dilate)
    vrng = np.random.default_rng(1234)
    vx, vy = sample_batch(va_pages, vrng, max(48, 4 * len(va_pages)), cfg.crop, train=False)
    # augmented validation crops too: the hard cases the device sees
    vxa, vya = sample_batch(va_pages, vrng, max(48, 4 * len(va_pages)), cfg.crop, train=True)
    vx, vy = np.concatenate([vx, vxa]), np.concatenate([vy, vya])

    dev = _device(cfg.device)
    model = TraceUNet(widths=tuple(cfg.widths)).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best_f1, history = 0, -1.0, []
    if cfg.init and not (resume and last.exists()):
        if str(cfg.init).endswith(".tflite"):
            from .from_tflite import model_from_tflite, recalibrate_bn

            model = model_from_tflite(cfg.init, widths=tuple(cfg.widths))
            recalibrate_bn(model, vx[: len(vx) // 2])
            model = model.to(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            state = torch.load(cfg.init, map_location="cpu", weights_only=False)["model"]
            model.load_state_dict(state)
        log(f"initialised weights from {cfg.init}")
    if resume and last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, best_f1, history = ck["step"], ck["best_f1"], ck.get("history", [])
        log(f"resumed from {last} at step {step} (best val F1 {best_f1:.3f})")
    model.to(dev)
    for st in opt.state.values():
        for k2, v in st.items():
            if torch.is_tensor(v) and k2 != "step":
                st[k2] = v.to(dev)
    log(
        f"training on {dev}; TraceUNet widths {cfg.widths}: {count_params(model)} parameters, "
        f"{macs_per_pixel(model):.0f} MAC/pixel; {len(tr_pages)} train / {len(va_pages)} val pages"
    )

    t0 = time.time()

    def lr_at(s: int) -> float:
        """Warm-up, then a cosine that follows whichever budget runs out first: steps or minutes,
        so a run stopped by its time budget still ends annealed."""
        warm = 100
        if s < warm:
            return cfg.lr * (s + 1) / warm
        done = max(
            (s - warm) / max(1, cfg.steps - warm), (time.time() - t0) / 60 / max(cfg.minutes, 1e-6)
        )
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    def save(path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        weights = {
            k2: v.detach().cpu() for k2, v in model.state_dict().items()
        }  # loadable without a GPU
        torch.save(
            {
                "model": weights,
                "opt": opt.state_dict(),
                "step": step,
                "best_f1": best_f1,
                "history": history,
                "config": asdict(cfg),
            },
            tmp,
        )
        tmp.replace(path)

    batches = _batches(tr_pages, cfg, (cfg.seed, step), cfg.workers)
    run_loss = []
    model.train()
    while step < cfg.steps:
        if (time.time() - t0) / 60 > cfg.minutes:
            log(
                f"time budget of {cfg.minutes} min reached at step {step}; saving (resume with --resume)"
            )
            if not history or history[-1]["step"] != step:
                m = evaluate(model, vx, vy, cfg.pos_weight)
                m["step"] = step
                history.append(m)
                if m["f1"] > best_f1:
                    best_f1 = m["f1"]
                    save(best)
                log(f"  val step {step}: F1 {m['f1']:.3f} IoU {m['iou']:.3f}")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = next(batches)
        xt = (
            torch.from_numpy(x)
            .to(dev, non_blocking=True)
            .contiguous(memory_format=torch.channels_last)
        )
        loss = _loss(model(xt), torch.from_numpy(y).to(dev, non_blocking=True), cfg.pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        run_loss.append(loss.item())
        if step % 25 == 0:
            el = time.time() - t0
            log(
                f"step {step}/{cfg.steps} loss {np.mean(run_loss[-25:]):.4f} lr {lr_at(step):.2e} "
                f"{el / 60:.1f} min",
            )
        if step % cfg.val_every == 0 or step == cfg.steps:
            if cfg.kit_refresh and cfg.kit_pages:
                known = set(tr_paths)
                new = [
                    p for p in _kit_pages_now(kit_dir / "train", cfg.kit_pages) if p not in known
                ]
                tr_paths += new
                tr_pages.extend(load_cache(new, dilate=cfg.target_dilate))  # the batches' list
                if new:
                    log(f"  {len(new)} more kit pages: {len(tr_pages)} training pages")
            m = evaluate(model, vx, vy, cfg.pos_weight)
            m["step"] = step
            history.append(m)
            improved = m["f1"] > best_f1
            if improved:
                best_f1 = m["f1"]
            save(last)
            if improved:
                save(best)
            log(
                f"  val step {step}: loss {m['loss']:.4f} P {m['precision']:.3f} R {m['recall']:.3f} "
                f"F1 {m['f1']:.3f} IoU {m['iou']:.3f}{' (best)' if improved else ''}"
            )
    batches.close()
    save(last)
    if not best.exists():
        save(best)
    (out / "history.json").write_text(
        json.dumps({"config": asdict(cfg), "history": history}, indent=2)
    )
    return best


def _kit_pages_now(folder: Path, limit: int) -> list[Path]:
    """The finished kit pages in `folder` now (at most `limit`), in page order."""
    return sorted(folder.glob("kit_[0-9]*[0-9].npz"))[:limit]


def load_checkpoint(path: str | Path):
    """(TraceUNet in eval mode, config dict) from a checkpoint."""
    import torch

    from .model import TraceUNet

    ck = torch.load(path, map_location="cpu", weights_only=False)
    cfg = ck.get("config", {})
    model = TraceUNet(widths=tuple(cfg.get("widths", (8, 16, 24, 32, 48))))
    model.load_state_dict(ck["model"])
    model = model.to(memory_format=torch.contiguous_format)
    return model.eval(), ck


def _hw(tile) -> tuple[int, int]:
    """Tile size as (height, width) from an int or a pair."""
    if isinstance(tile, (list, tuple)):
        return int(tile[0]), int(tile[1])
    return int(tile), int(tile)


def export_onnx(model, path: str | Path, tile=256) -> Path:
    """Export the probability model with a fixed (1, 3, th, tw) input named `page` (tile: int or (th, tw))."""
    import copy

    import torch

    th, tw = _hw(tile)
    m = copy.deepcopy(model).eval()
    m.probability = True
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        m,
        torch.rand(1, 3, th, tw),
        str(path),
        input_names=["page"],
        output_names=["trace_prob"],
        opset_version=17,
        dynamo=False,
    )
    return path


def calibration_tiles(cache_dir: str | Path, tile=256, n: int = 16, seed: int = 0) -> np.ndarray:
    """Real page tiles (NHWC float32 in [0, 1]), half plain, half augmented, for int8 calibration."""
    from .data import load_cache, sample_batch

    th, tw = _hw(tile)
    size = max(th, tw)
    paths = sorted(Path(cache_dir).glob("page_*.npz"))[:40]
    pages = load_cache(paths)
    rng = np.random.default_rng(seed)
    x, _ = sample_batch(pages, rng, n // 2, size, train=False)
    xa, _ = sample_batch(pages, rng, n - n // 2, size, train=True)
    x = np.concatenate([x, xa])[
        :, :, (size - th) // 2 : (size - th) // 2 + th, (size - tw) // 2 : (size - tw) // 2 + tw
    ]
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
