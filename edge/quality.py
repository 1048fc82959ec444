"""Preview guidance: is there an ECG page in the frame, is it big enough, sharp, well lit, free of
glare and held still? Produces the outline to draw and one short instruction for the nurse.

Works on a downscaled copy so it runs at preview rate on a Pi. The page outline is the one the
digitizer finds (edge.digitize.page.find_page_quad), or the whole frame; "ECG-ness" is
the strength of a periodic grid or of thin dark line work inside it, so it does not depend on
the grid's colour or on one printer's look."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from .digitize.sharpness import laplacian_variance

WORK_WIDTH = 640  # page finding, sharpness, light and glare run at this width
DETAIL_WIDTH = 1600  # the grid test runs on up to this much detail (small pages)

# guidance, most important first
MSG_NO_PAGE = "No ECG page found"
MSG_DARK = "Too dark - add light"
MSG_CLOSER = "Move closer"
MSG_GLARE = "Glare - tilt the paper"
MSG_BLUR = "Blurred - hold steady / focus"
MSG_STILL = "Hold still"
MSG_READY = "Hold still - capturing"


@dataclass
class QualityThresholds:
    min_sharpness: float = 60.0
    min_brightness: float = 60.0
    max_glare_fraction: float = 0.02
    min_page_fraction: float = 0.25
    max_motion: float = 4.0
    min_ecg_score: float = 0.35

    @classmethod
    def from_config(cls, capture_cfg) -> "QualityThresholds":
        return cls(
            min_sharpness=capture_cfg.min_sharpness,
            min_brightness=capture_cfg.min_brightness,
            max_glare_fraction=capture_cfg.max_glare_fraction,
            min_page_fraction=capture_cfg.min_page_fraction,
            max_motion=capture_cfg.max_motion,
        )


@dataclass
class Quality:
    """What the preview shows and whether a capture may be taken. `outline` is the page corners
    (4x2, frame pixel coordinates, TL TR BR BL) or None; `messages` most important first."""

    page_found: bool
    outline: np.ndarray | None
    page_fraction: float
    sharpness: float
    brightness: float
    glare_fraction: float
    ecg_score: float
    motion: float | None = None
    still_seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Good enough to capture, stillness aside."""
        return not self.messages or self.messages == [MSG_STILL] or self.messages == [MSG_READY]

    @property
    def message(self) -> str:
        return self.messages[0] if self.messages else MSG_READY

    def to_dict(self) -> dict:
        return {
            "page_found": self.page_found,
            "page_fraction": round(self.page_fraction, 3),
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "glare_fraction": round(self.glare_fraction, 4),
            "ecg_score": round(self.ecg_score, 3),
            "motion": None if self.motion is None else round(self.motion, 2),
            "outline": None if self.outline is None else self.outline.round(1).tolist(),
            "messages": list(self.messages),
        }


def _order_corners(pts: np.ndarray) -> np.ndarray:
    pts = pts.reshape(4, 2).astype(np.float32)
    s, d = pts.sum(1), np.diff(pts, axis=1).ravel()
    return np.array(
        [pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], np.float32
    )


def page_candidates(bgr: np.ndarray, min_fraction: float = 0.03) -> list[np.ndarray]:
    """The page outline (TL, TR, BR, BL) the digitizer would find in this small BGR image
    (edge.digitize.page.find_page_quad): preview and digitizer agree on "page found". Empty
    when it finds none (find_page then tries the whole frame: a page filling it)."""
    from .digitize.page import find_page_quad

    quad, _ = find_page_quad(bgr, min_fraction=min_fraction)
    if quad is None:
        return []
    return [_order_corners(np.asarray(quad, np.float32))]


def _plausible(quad: np.ndarray, w: int, h: int) -> bool:
    """A convex outline, mostly inside the frame, with no corner sharper than 45 degrees."""
    q = quad.reshape(4, 2).astype(np.float64)
    if not cv2.isContourConvex(q.astype(np.float32).reshape(-1, 1, 2)):
        return False
    if (
        (q[:, 0] < -0.1 * w).any()
        or (q[:, 0] > 1.1 * w).any()
        or (q[:, 1] < -0.1 * h).any()
        or (q[:, 1] > 1.1 * h).any()
    ):
        return False
    for i in range(4):
        a, b = q[i - 1] - q[i], q[(i + 1) % 4] - q[i]
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        if na < 10 or nb < 10 or abs(np.dot(a, b) / (na * nb)) > 0.71:
            return False
    return True


def find_page(
    bgr: np.ndarray, min_fraction: float = 0.03, detail: np.ndarray | None = None
) -> tuple[np.ndarray | None, float]:
    """The most ECG-like page outline in a small BGR image and its ECG score; a page filling the
    frame (a scan, a close-up) gives the frame corners. `detail` is an optional sharper grey copy
    of the same view (any size) on which the grid of a small page is still resolved."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    detail = gray if detail is None else detail
    k = detail.shape[1] / gray.shape[1]
    h, w = gray.shape
    full = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    best, best_key, best_score = None, (-1.0, 0.0), 0.0
    cands = page_candidates(bgr, min_fraction)
    if (
        not cands or float(np.median(gray)) > 110
    ):  # the page may fill the frame (a scan, a close-up)
        cands.append(full)
    smooth = cv2.GaussianBlur(detail, (0, 0), 1.0)  # once for all candidates (see _warp)
    scored: list[tuple[np.ndarray, float]] = []
    tol = 0.015 * float(np.hypot(w, h))
    for quad in cands:
        if not _plausible(quad, w, h):
            continue
        area = float(cv2.contourArea(quad.reshape(-1, 1, 2)))
        if area < min_fraction * h * w:
            continue
        same = [sc for q, sc in scored if np.abs(q - quad).max() < tol]  # cues often agree
        score = same[0] if same else ecg_score(_warp(smooth, quad * k, smooth=False))
        scored.append((quad, score))
        # clearly more ECG-like first, then bigger; the whole frame only when nothing else is
        key = (round(score, 1) - (0.25 if quad is full else 0.0), area)
        if key > best_key:
            best, best_key, best_score = quad, key, score
    return best, best_score


def _warp(
    gray: np.ndarray, quad: np.ndarray, size: tuple[int, int] = (512, 384), smooth: bool = True
) -> np.ndarray:
    """Rectify the outlined page, never enlarging it (interpolated upsampling leaves a periodic
    ripple that would read as a grid). For scoring the source is smoothed first for the same
    reason when it is reduced."""
    q = quad.reshape(4, 2).astype(np.float32)
    side_w = float(max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3])))
    side_h = float(max(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])))
    k = min(1.0, size[0] / max(side_w, 1.0), size[1] / max(side_h, 1.0))
    w, h = max(8, int(side_w * k)), max(8, int(side_h * k))
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    src = cv2.GaussianBlur(gray, (0, 0), 1.0) if smooth else gray
    return cv2.warpPerspective(src, cv2.getPerspectiveTransform(q, dst), (w, h))


def _periodicity(profile: np.ndarray, min_period: float = 3.0, max_period: float = 64.0) -> float:
    """0..1: prominence of the strongest periodic component of a 1-D profile over the spectrum's
    median (random texture stays below ~12x, a printed grid is far above 60x)."""
    p = profile - cv2.GaussianBlur(profile.reshape(1, -1).astype(np.float32), (0, 0), 8).ravel()
    p = p * np.hanning(len(p))
    spec = np.abs(np.fft.rfft(p)) ** 2
    n = len(p)
    k = np.arange(len(spec))
    band = spec[(k >= n / max_period) & (k <= n / min_period)]
    if band.size < 5:
        return 0.0
    peak = np.convolve(band, np.ones(3) / 3, mode="same").max()
    ratio = peak / (np.median(band) + 1e-12)
    if ratio <= 0:
        return 0.0
    return float(
        np.clip((np.log10(ratio) - np.log10(12.0)) / (np.log10(60.0) - np.log10(12.0)), 0.0, 1.0)
    )


def glare_fraction(page_gray: np.ndarray) -> float:
    """Share of the rectified page washed out by glare: saturated areas with no grid or trace
    line anywhere near them, counted in the page's interior (blank margins and the header band
    of a printout are white without any glare)."""
    flat = cv2.erode(page_gray, np.ones((9, 9), np.uint8)) >= 245
    h, w = page_gray.shape
    inner = flat[int(0.2 * h) : int(0.92 * h), int(0.08 * w) : int(0.92 * w)]
    return float(inner.mean()) if inner.size else 0.0


def ecg_score(page_gray: np.ndarray) -> float:
    """0..1: how much the (rectified) page looks like an ECG printout: a regular grid in both
    directions, or failing a grid, thin dark line work on light paper."""
    g = page_gray.astype(np.float32)
    hp = np.abs(g - cv2.GaussianBlur(g, (0, 0), 3))
    gx = _periodicity(hp.mean(axis=0))
    gy = _periodicity(hp.mean(axis=1))
    grid = float(np.sqrt(gx * gy))
    if grid >= 0.8:  # clearly a grid: skip the costlier line-work test
        return grid
    # line work: dark thin strokes on light paper (gridless printouts, faint grids)
    bg = cv2.medianBlur(page_gray, 21).astype(np.float32)
    ink = (bg - g) > 40
    light_paper = float(np.median(bg)) > 120
    ink_frac = float(ink.mean())
    lines = 0.0
    if light_paper and 0.003 < ink_frac < 0.25:
        n, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
        wide = (stats[1:, cv2.CC_STAT_WIDTH] > 0.15 * page_gray.shape[1]).sum() if n > 1 else 0
        lines = min(1.0, wide / 3.0)
    return float(max(grid, 0.8 * lines))


class QualityMeter:
    """Assesses preview frames one after another, tracking how long the page has been still."""

    def __init__(self, thresholds: QualityThresholds | None = None, history: int = 8) -> None:
        self.t = thresholds or QualityThresholds()
        self._prev: np.ndarray | None = None
        self._still_since: float | None = None
        self._page: tuple[np.ndarray, float] | None = None
        self._motions: deque[float] = deque(maxlen=history)

    def reset(self) -> None:
        self._prev, self._still_since, self._page = None, None, None
        self._motions.clear()

    def assess(self, image: np.ndarray, timestamp: float = 0.0) -> Quality:
        small = cv2.resize(
            cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image,
            (160, 120),
            interpolation=cv2.INTER_AREA,
        ).astype(np.float32)
        motion = None if self._prev is None else float(np.abs(small - self._prev).mean())
        # a still view keeps its page: the outline search (the costly part) is not repeated
        reuse = self._page if motion is not None and motion <= self.t.max_motion / 2 else None
        q = assess_frame(image, self.t, page=reuse)
        q.motion = motion
        if motion is not None:
            self._motions.append(motion)
        self._prev = small
        self._page = (q.outline, q.ecg_score) if q.outline is not None else None
        still = q.motion is not None and q.motion <= self.t.max_motion
        if still and q.page_found:
            if self._still_since is None:
                self._still_since = timestamp
            q.still_seconds = timestamp - self._still_since
        else:
            self._still_since = None
        if q.ok and not still:
            q.messages = [MSG_STILL]
        elif q.ok:
            q.messages = [MSG_READY]
        return q


def assess_frame(
    image: np.ndarray,
    t: QualityThresholds | None = None,
    page: tuple[np.ndarray, float] | None = None,
) -> Quality:
    """Guidance for one frame (no stillness): page outline, size, sharpness, light, glare.
    `page` = (outline in frame pixels, ECG score) from a previous frame of the same still view
    skips the outline search."""
    t = t or QualityThresholds()
    small = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = small.shape[:2]
    scale = WORK_WIDTH / w if w > WORK_WIDTH else 1.0
    if scale != 1.0:
        small = cv2.resize(
            small, (WORK_WIDTH, max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    quad: np.ndarray | None
    if page is not None:
        quad, score = np.asarray(page[0], np.float32) * scale, float(page[1])
    else:
        if image.ndim == 3:
            detail_src = (
                image
                if w <= DETAIL_WIDTH
                else cv2.resize(
                    image,
                    (DETAIL_WIDTH, max(1, round(h * DETAIL_WIDTH / w))),
                    interpolation=cv2.INTER_AREA,
                )
            )
            detail = cv2.cvtColor(detail_src, cv2.COLOR_BGR2GRAY)
        else:
            detail = gray
        quad, score = find_page(small, detail=detail)
    if quad is not None:
        mask = np.zeros_like(gray)
        cv2.fillConvexPoly(mask, quad.astype(np.int32), 255)
        region = gray[mask > 0]
        page_fraction = float((mask > 0).mean())
        page_img = _warp(gray, quad)
    else:
        region, page_fraction, page_img, score = gray.ravel(), 0.0, gray, 0.0
    brightness = float(np.median(region)) if region.size else 0.0
    glare = glare_fraction(page_img) if quad is not None else 0.0
    sharp_src = _warp(gray, quad, smooth=False) if quad is not None else gray
    sharpness = laplacian_variance(sharp_src)
    page_found = quad is not None and score >= t.min_ecg_score
    msgs: list[str] = []
    if brightness < t.min_brightness and (page_found or float(gray.mean()) < t.min_brightness):
        msgs.append(MSG_DARK)
    elif not page_found:
        msgs.append(MSG_NO_PAGE)
    else:
        if page_fraction < t.min_page_fraction:
            msgs.append(MSG_CLOSER)
        if glare > t.max_glare_fraction:
            msgs.append(MSG_GLARE)
        if sharpness < t.min_sharpness:
            msgs.append(MSG_BLUR)
    outline = None if quad is None else quad / scale
    return Quality(
        page_found=page_found,
        outline=outline,
        page_fraction=page_fraction,
        sharpness=sharpness,
        brightness=brightness,
        glare_fraction=glare,
        ecg_score=score,
        messages=msgs,
    )
