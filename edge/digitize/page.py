"""Page and perspective: find the paper in a photo, warp it fronto-parallel, remove the residual
rotation measured on the grid and resample to the digitizer's working resolution, so every later
stage sees a flat page at exactly WORK_PX_PER_MM in both axes."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import BadInputError
from .grid import GridCalibration, measure_grid
from .gridlines import find_grid_lines, grid_region, rectifying_homography
from .lean import page_shear

WORK_PX_PER_MM = 6.0  # rectified page resolution used by traceprob/layout/extract
DETECT_MAX_SIDE = 900  # page-outline search runs on an image this big
FILLS_WIDTH_MM = (225.0, 340.0)  # a page filling the frame: A4/Letter, maybe cropped to its grid
APPROX_MAX_SIDE = 1800  # first warp, on which the grid is measured
SOURCE_MAX_SIDE = 2800  # bigger frames are shrunk once (area average) before any warp
GRID_SEARCH_MARGIN = 0.25  # grid lines are looked for this far (of the outline's size) around it
GRID_REGION_WIDTH_MM = (225.0, 400.0)  # the grid region found from its lines, with its margin
GRID_FIX_FRACTION = (
    0.08  # grid lines this far (of the page size) from the outline's warp replace it
)
GRID_FILLS_FRACTION = 0.5  # with no outline, a grid covering less of the frame sets the crop
STEP_CLIP = 40.0  # brightness steps across an outline's side are clipped to this (0-255 scale)
STEP_GAIN = 8.0  # another outline's weakest side must be this much stronger to replace it
WHOLE_PAGE_WIDTH_MM = (255.0, 330.0)  # a whole page in view: A4 or Letter, landscape
MAX_OUTPUT_PX = 12_000_000  # a rectified page bigger than this means the grid was misread
MIN_OUTPUT_PX = (200, 100)  # ...and so does one smaller than this
MIN_PAPER_FRACTION = 0.15  # a paper region smaller than this share of the frame is not the page
BORDER_TOUCH = 0.005  # an outline this close (of the frame's side) to the border may be cut off
SUPPORT_CHUNK = 1024  # lines whose edge support is sampled at once (~4 MB of coordinates)
SHEAR_MIN_DEG = 0.35  # vertical grid lines leaning less than this after the rotation are left:
# 0.7 mm over a page's rows, which their own pulses absorb; square-looking pages read up to ~0.25


@dataclass
class RectifiedPage:
    image: np.ndarray  # BGR uint8 at WORK_PX_PER_MM
    homography: np.ndarray  # 3x3: source image pixels -> rectified pixels
    grid: GridCalibration
    page_found: bool  # a page outline was found (photo) rather than the whole image
    quad: list[list[float]] | None  # page corners in the source image
    rotated_deg: float = 0.0  # quarter turns applied (90, 180, 270)
    warnings: list[str] = field(default_factory=list)
    source_px_per_mm: tuple[float, float] = (0.0, 0.0)  # about, in the input photo/scan (x, y)
    perspective: str = "none"  # what set the page plane: "outline", "grid_lines" or "none" (frame)
    upright_deg: float = 0.0  # how far the vertical lines were stood upright after the rotation


def _order_quad(pts: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(pts, np.float64).reshape(4, 2)
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]  # clockwise in image coords starting at ~-180 deg
    tl = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -tl, axis=0)


def find_page_quad(
    img_bgr: np.ndarray, min_fraction: float = MIN_PAPER_FRACTION
) -> tuple[np.ndarray | None, str]:
    """Paper outline in a photo: the largest bright, low-saturation region with four corners.
    Returns (corners in image px or None, reason). None with "fills" when the paper fills the
    frame (scans), which is fine. `min_fraction`: the least share of the frame a page may cover
    (the preview looks for smaller pages, to ask the user to move closer)."""
    h, w = img_bgr.shape[:2]
    s = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = cv2.resize(
        img_bgr, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA
    )
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    v = hsv[:, :, 2].astype(np.float32)
    sat = hsv[:, :, 1].astype(np.float32)
    # Paper: bright and not strongly coloured.
    score = cv2.GaussianBlur(v - 0.5 * sat, (0, 0), 2)
    score8 = np.clip(score, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(score8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    quad, why = _quad_from_mask(score, score8 > t, min_fraction=min_fraction)
    if quad is None:
        return None, why
    # A shadow or glare across the sheet splits the paper into a bright and a dim part, and the
    # threshold can keep only the bright one: one side of that outline then runs along the shadow,
    # where the brightness step is weak. A desk nearly as bright as the paper can join it instead.
    # Look again halfway down to the next threshold (between the dim paper and the desk) and
    # halfway up to the next (between the desk and the paper), and take such an outline when its
    # weakest side is a clearly stronger edge than the first outline's.
    edges, d = _step_image(score)

    def weakest_side(q: np.ndarray) -> float:
        return float(_side_support(edges, q, np.roll(q, -1, axis=0), d).min())

    w0 = weakest_side(quad)
    for part, wider in ((score8[score8 <= t], True), (score8[score8 > t], False)):
        if not part.size or w0 > STEP_CLIP - STEP_GAIN:  # no outline can be clearly stronger
            continue
        t_next, _ = cv2.threshold(part.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        other, _ = _quad_from_mask(
            score, score8 > 0.5 * (t + t_next), snap=False, min_fraction=min_fraction
        )
        if other is None:
            continue
        ratio = _quad_area(other) / _quad_area(quad)
        if (ratio <= 1.1) if wider else (ratio >= 0.9):
            continue
        other = _snap_sides_to_edges(score, other)
        w1 = weakest_side(other)
        # Steps are clipped at STEP_CLIP. A wider outline must halve the shortfall: a desk edge
        # beyond a shadowed border is easily as strong as the border itself.
        if w1 >= w0 + STEP_GAIN and (not wider or STEP_CLIP - w1 <= 0.5 * (STEP_CLIP - w0)):
            quad = other
            break
    return quad / s, "found"


def _quad_from_mask(
    score: np.ndarray,
    paper: np.ndarray,
    snap: bool = True,
    min_fraction: float = MIN_PAPER_FRACTION,
) -> tuple[np.ndarray | None, str]:
    """The four corners of the largest region of `paper` (a bool mask of paper-bright pixels), in
    the mask's pixels, or None and why ("no_paper", or "fills" for a page filling the frame).
    `snap` moves the sides onto the brightness steps of `score` near them."""
    mask = paper.astype(np.uint8) * 255
    k = max(3, int(round(min(mask.shape[:2]) / 40)))
    # Generous closing: shadows and glare leave holes and ragged edges in the paper mask; grid
    # lines, traces and text are filled.
    kc = max(3, int(round(min(mask.shape[:2]) / 20)))
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kc, kc))
    )
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n <= 1:
        return None, "no_paper"
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = stats[i, cv2.CC_STAT_AREA]
    sh, sw = mask.shape
    if area < min_fraction * sh * sw:
        return None, "no_paper"
    comp = (lab == i).astype(np.uint8) * 255
    # Background must be visible around most of the page; otherwise this is a scan / full-frame shot.
    border = np.concatenate([comp[0, :], comp[-1, :], comp[:, 0], comp[:, -1]])
    if (border > 0).mean() > 0.6 or area > 0.93 * sh * sw:
        return None, "fills"
    cnts, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cnt = max(cnts, key=cv2.contourArea)
    hull = cv2.convexHull(cnt)
    quad = _max_area_quad(hull)
    if quad is None:
        quad = cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)
    quad0 = _order_quad(quad)
    quad = _refine_quad(quad0, cnt.reshape(-1, 2).astype(np.float64))
    if not _plausible_quad(quad, quad0, sw, sh):
        quad = quad0
    # The mask outline goes wrong where glare joins the paper to the desk, or a shadow or finger
    # cuts the paper: move each side onto the strongest straight brightness step near it.
    return (_snap_sides_to_edges(score, quad) if snap else quad), "found"


def _quad_area(q: np.ndarray) -> float:
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _plausible_quad(q: np.ndarray, ref: np.ndarray, w: int, h: int) -> bool:
    """A convex quad inside (or just beyond) the frame whose area is close to `ref`'s."""
    if not np.all(np.isfinite(q)):
        return False
    if not cv2.isContourConvex(q.astype(np.float32).reshape(-1, 1, 2)):
        return False
    m = 0.05 * max(w, h)
    if q[:, 0].min() < -m or q[:, 1].min() < -m or q[:, 0].max() > w + m or q[:, 1].max() > h + m:
        return False
    a, a0 = _quad_area(q), _quad_area(ref)
    return a0 > 0 and 0.75 < a / a0 < 1.33


def _side_support(
    img: np.ndarray, p0: np.ndarray, p1: np.ndarray, d: float, n: int = 96
) -> np.ndarray:
    """Brightness step across lines p0->p1 (arrays of endpoints, shape (k, 2)): mean over points
    along each line of |I(+d normal) - I(-d normal)|, clipped so a finger or glare on a short
    stretch of the edge cannot dominate. Lines are measured SUPPORT_CHUNK at a time (each line's
    value is its own; the outline search tries ~16,000 lines at once)."""
    if len(p0) > SUPPORT_CHUNK:
        return np.concatenate(
            [
                _side_support(img, p0[i : i + SUPPORT_CHUNK], p1[i : i + SUPPORT_CHUNK], d, n)
                for i in range(0, len(p0), SUPPORT_CHUNK)
            ]
        )
    t = np.linspace(0.05, 0.95, n)[None, :, None]
    pts = p0[:, None, :] * (1 - t) + p1[:, None, :] * t  # k x n x 2
    dv = p1 - p0
    nrm = np.stack([-dv[:, 1], dv[:, 0]], axis=1) / (
        np.linalg.norm(dv, axis=1, keepdims=True) + 1e-9
    )
    a = pts + d * nrm[:, None, :]
    b = pts - d * nrm[:, None, :]

    def samp(q):
        return cv2.remap(
            img,
            q[..., 0].astype(np.float32),
            q[..., 1].astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    step = np.abs(samp(a) - samp(b))
    return np.minimum(step, STEP_CLIP).mean(axis=1)


def _step_image(score: np.ndarray) -> tuple[np.ndarray, float]:
    """The lightly blurred paper score on which brightness steps across an outline's sides are
    measured, and the distance (px) either side of a side at which they are read."""
    h, w = score.shape
    return cv2.GaussianBlur(score.astype(np.float32), (0, 0), 1.5), max(2.0, 0.005 * max(h, w))


def _snap_sides_to_edges(score: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Move each side's two ends along its normal (up to a quarter of the frame) to where the
    brightness step across the side is strongest; keep the old side unless the new one is clearly
    better supported, and the old quad unless the result is a plausible convex quad."""
    h, w = score.shape
    img, d = _step_image(score)
    R = int(0.25 * min(h, w))
    step = max(2, R // 60)
    offs = np.arange(-R, R + 1, step, dtype=np.float64)
    lines = []
    changed = False
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        dv = b - a
        nrm = np.array([-dv[1], dv[0]]) / (np.linalg.norm(dv) + 1e-9)
        s1, s2 = np.meshgrid(offs, offs, indexing="ij")
        s1, s2 = s1.ravel(), s2.ravel()
        p0 = a[None, :] + s1[:, None] * nrm[None, :]
        p1 = b[None, :] + s2[:, None] * nrm[None, :]
        sup = _side_support(img, p0, p1, d, n=48)
        # fine search around the best coarse line
        k = int(np.argmax(sup))
        fo = np.arange(-step, step + 1, 1.0)
        f1, f2 = np.meshgrid(s1[k] + fo, s2[k] + fo, indexing="ij")
        f1, f2 = f1.ravel(), f2.ravel()
        q0 = a[None, :] + f1[:, None] * nrm[None, :]
        q1 = b[None, :] + f2[:, None] * nrm[None, :]
        fs = _side_support(img, q0, q1, d, n=96)
        j = int(np.argmax(fs))
        old = float(_side_support(img, a[None], b[None], d, n=96)[0])
        if fs[j] > 1.3 * old + 1.0:
            lines.append((q0[j], q1[j] - q0[j]))
            changed = True
        else:
            lines.append((a, dv))
    if not changed:
        return quad
    out = []
    for i in range(4):
        (p1_, d1), (p2_, d2) = lines[i - 1], lines[i]
        m = np.array([d1, -d2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return quad
        t = np.linalg.solve(m, p2_ - p1_)
        out.append(p1_ + t[0] * d1)
    new = np.array(out)
    if not cv2.isContourConvex(new.astype(np.float32).reshape(-1, 1, 2)):
        return quad
    slack = 0.05 * max(w, h)
    if (
        new[:, 0].min() < -slack
        or new[:, 1].min() < -slack
        or new[:, 0].max() > w + slack
        or new[:, 1].max() > h + slack
    ):
        return quad
    if _quad_area(new) < 0.15 * w * h:
        return quad
    return new


def _max_area_quad(hull: np.ndarray) -> np.ndarray | None:
    """The largest quadrilateral with corners on the (simplified) convex hull: a corner hidden
    by a finger or a torn edge moves a side a little, not the whole quad."""
    peri = cv2.arcLength(hull, True)
    pts = None
    for eps in (0.005, 0.01, 0.02, 0.03):
        ap = cv2.approxPolyDP(hull, eps * peri, True).reshape(-1, 2).astype(np.float64)
        if 4 <= len(ap) <= 14:
            pts = ap
            break
    if pts is None:
        return None
    from itertools import combinations

    best, best_a = None, -1.0
    for c in combinations(range(len(pts)), 4):
        q = pts[list(c)]
        x, y = q[:, 0], q[:, 1]
        a = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        if a > best_a:
            best, best_a = q, a
    return best


def _refine_quad(quad: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """Fit a line to the contour points along each side and intersect neighbours (sub-pixel corners,
    robust to a rounded or slightly torn corner)."""
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        ab = b - a
        L = np.linalg.norm(ab) + 1e-9
        nrm = np.array([-ab[1], ab[0]]) / L
        rel = contour - a
        along = rel @ ab / L**2
        dist = np.abs(rel @ nrm)
        sel = contour[(along > 0.1) & (along < 0.9) & (dist < 0.02 * L + 3)]
        if len(sel) < 10:
            lines.append((a, ab / L))
            continue
        vx, vy, x0, y0 = cv2.fitLine(sel.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    out = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        m = np.array([d1, -d2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            out.append(quad[i])
            continue
        t = np.linalg.solve(m, p2 - p1)
        out.append(p1 + t[0] * d1)
    return np.array(out)


def _warp(src: np.ndarray, H: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp with anti-aliasing: shrink the source first when the map downsamples a lot. Bicubic
    keeps thin strokes sharper than bilinear (see docs/benchmarks.md)."""
    J = H[:2, :2]
    scale = float(np.sqrt(abs(np.linalg.det(J))))
    if scale < 0.7:
        f = min(1.0, scale * 1.3)
        small = cv2.resize(
            src,
            (max(1, int(src.shape[1] * f)), max(1, int(src.shape[0] * f))),
            interpolation=cv2.INTER_AREA,
        )
        S = np.diag([1.0 / f, 1.0 / f, 1.0])
        return cv2.warpPerspective(
            small, H @ S, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
    return cv2.warpPerspective(src, H, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def _shrunk(img_bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """One shrink of big camera frames (12 MP -> ~5 MP) that serves every later warp."""
    h0, w0 = img_bgr.shape[:2]
    pre = min(1.0, SOURCE_MAX_SIDE / max(h0, w0))
    if pre >= 1.0:
        return img_bgr, pre
    size = (int(round(w0 * pre)), int(round(h0 * pre)))
    return cv2.resize(img_bgr, size, interpolation=cv2.INTER_AREA), pre


def _outline_map(
    quad: np.ndarray | None, w: int, h: int, warnings: list[str]
) -> tuple[np.ndarray, float, float]:
    """Homography from the frame to the flat page the outline encloses, and that page's size
    (the whole frame without an outline)."""
    if quad is None:
        return np.eye(3), float(w), float(h)
    tl, tr, br, bl = quad
    wq = float(0.5 * (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)))
    hq = float(0.5 * (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)))
    dst = np.array([[0, 0], [wq, 0], [wq, hq], [0, hq]], np.float64)
    H = cv2.getPerspectiveTransform(quad.astype(np.float32), dst.astype(np.float32))
    margin = min(quad[:, 0].min(), quad[:, 1].min(), w - quad[:, 0].max(), h - quad[:, 1].max())
    if margin < BORDER_TOUCH * max(h, w):
        warnings.append("page edge touches the image border: part of the page may be cut off")
    return H, wq, hq


def _measure_grid_for(approx: np.ndarray, why: str) -> GridCalibration:
    """The grid, with the page widths plausible for how the page was found: a whole page in view
    is A4 or Letter (landscape), and so is a page that fills the frame (a scan); that bounds the
    scale tightly, which keeps other periodic patterns (paper texture, JPEG blocks, a grid with
    only its 5 mm lines left) from passing for the 1 mm grid. The grid region found from its
    lines is bounded like a page cropped to its grid."""
    if why == "found":
        return measure_grid(approx, width_mm_range=WHOLE_PAGE_WIDTH_MM)
    if why == "fills":
        return measure_grid(approx, width_mm_range=FILLS_WIDTH_MM)
    if why == "grid_lines":
        return measure_grid(approx, width_mm_range=GRID_REGION_WIDTH_MM)
    return measure_grid(approx)


def _final_map(
    A: np.ndarray, size_a: tuple[int, int], grid: GridCalibration, work_px_per_mm: float
) -> tuple[np.ndarray, int, int]:
    """Undo the residual rotation about the centre, then scale each axis to work px/mm."""
    cx, cy = size_a[0] / 2, size_a[1] / 2
    Rm = np.linalg.inv(
        np.vstack([cv2.getRotationMatrix2D((cx, cy), grid.angle_deg, 1.0), [0, 0, 1]])
    )
    sx, sy = work_px_per_mm / grid.px_per_mm_x, work_px_per_mm / grid.px_per_mm_y
    out_w, out_h = int(round(size_a[0] * sx)), int(round(size_a[1] * sy))
    if out_w * out_h > MAX_OUTPUT_PX or out_w < MIN_OUTPUT_PX[0] or out_h < MIN_OUTPUT_PX[1]:
        raise BadInputError(
            "scale_implausible",
            f"the grid suggests a page of {out_w / work_px_per_mm:.0f} x "
            f"{out_h / work_px_per_mm:.0f} mm",
            "photograph the whole printout, flat and in focus",
        )
    return np.diag([sx, sy, 1.0]) @ Rm @ A, out_w, out_h


def _stood_upright(
    src: np.ndarray, image: np.ndarray, Hf: np.ndarray, work_px_per_mm: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """The page warped again with its vertical grid lines stood upright where they still lean
    together after the rotation, and how far (degrees). An outline a little off or a page
    photographed at a slant leaves the two line families off square; one rotation squares
    neither (the grid's rotation is their mean), and leaning vertical lines put each row's start,
    pulse and beats at another x. The lean is read on the rectified page (edge.digitize.lean),
    which reads it more surely than the grid measurement's one figure per family. The page is
    widened so that no corner is cut."""
    s = page_shear(image, work_px_per_mm)
    deg = 0.0 if s is None else float(np.degrees(np.arctan(s)))
    if s is None or abs(deg) < SHEAR_MIN_DEG:
        return image, Hf, 0.0
    h, w = image.shape[:2]
    pad = int(np.ceil(abs(s) * h / 2))
    S = np.array([[1.0, -s, s * h / 2 + pad], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    Hs = S @ Hf
    return _warp(src, Hs, (w + 2 * pad, h)), Hs, deg


def rectify_page(img_bgr: np.ndarray, *, work_px_per_mm: float = WORK_PX_PER_MM) -> RectifiedPage:
    """Photo or scan -> flat page at `work_px_per_mm`, with the grid calibration used."""
    warnings: list[str] = []
    src, pre = _shrunk(img_bgr)
    P = np.diag([pre, pre, 1.0])  # original -> src pixels
    h, w = src.shape[:2]
    quad, why = find_page_quad(src)
    H0, W0, H0h = _outline_map(quad, w, h, warnings)
    # Landscape is the normal print orientation; turn portrait pages a quarter turn.
    rotated = 0.0
    if H0h > W0 * 1.05:
        R = np.array([[0, -1, H0h], [1, 0, 0], [0, 0, 1]], np.float64)  # 90 deg clockwise
        H0 = R @ H0
        W0, H0h = H0h, W0
        rotated = 90.0
    a = min(1.0, APPROX_MAX_SIDE / max(W0, H0h))
    A = np.diag([a, a, 1.0]) @ H0
    size_a = (max(1, int(round(W0 * a))), max(1, int(round(H0h * a))))
    # The outline can be wrong (glare, a shadow or another sheet joined to or cut from the paper)
    # or missing (a page on a desk of the same brightness); the grid's own lines then disagree
    # with the warp and set the page plane instead.
    region = quad if quad is not None else np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    fixed = _warp_from_grid_lines(src, A, size_a, region, outline_found=quad is not None)
    if fixed is not None:
        A, size_a, rotated = fixed
        warnings.append(
            "page outline disagreed with the grid lines: perspective taken from the grid"
            if why == "found"
            else "page outline not found: perspective taken from the grid lines"
        )
        why = "grid_lines"
    grid = _measure_grid_for(_warp(src, A, size_a), why)
    if grid.source != "grid":
        warnings.append("no ECG grid found: scale taken from the page size (assumed 297 mm wide)")
    Hf, out_w, out_h = _final_map(A, size_a, grid, work_px_per_mm)
    image = _warp(src, Hf, (out_w, out_h))
    upright = 0.0
    if grid.source == "grid":
        image, Hf, upright = _stood_upright(src, image, Hf, work_px_per_mm)
    quad_orig = (quad / pre).tolist() if quad is not None else None
    src_k = (grid.px_per_mm_x / (a * pre), grid.px_per_mm_y / (a * pre))
    perspective = {"found": "outline", "grid_lines": "grid_lines"}.get(why, "none")
    return RectifiedPage(
        image,
        Hf @ P,
        grid,
        quad is not None,
        quad_orig,
        rotated,
        warnings,
        src_k,
        perspective,
        upright,
    )


def _warp_from_grid_lines(
    src: np.ndarray, A: np.ndarray, size_a: tuple[int, int], quad: np.ndarray, outline_found: bool
) -> tuple[np.ndarray, tuple[int, int], float] | None:
    """(new src -> approx map, its size, quarter turn applied) when the grid lines, seen through
    the warp A, still converge or shear by more than GRID_FIX_FRACTION of the page, or when no
    outline was found (`quad` is then the frame) and the grid covers less than GRID_FILLS_FRACTION
    of the frame (a page on a desk as bright as paper); else None (the warp A stands)."""
    # Lines are looked for around the outline, with room for a page the outline cut short.
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    m = GRID_SEARCH_MARGIN * (hi - lo)
    lines = find_grid_lines(src, (*(lo - m), *(hi + m)))
    if lines is None:
        return None
    # Does the outline's warp leave the grid lines converging or sheared?
    la = lines.transformed(A)
    w, h = size_a
    cx, cy = w / 2, h / 2
    Ga = rectifying_homography(la, (cx, cy))
    if Ga is None:
        return None
    box = np.array([[0, 0], [w, 0], [w, h], [0, h], [cx, 0], [w, cy], [cx, h], [0, cy]], np.float64)
    moved = cv2.perspectiveTransform(box[None], Ga)[0]
    M, _ = cv2.estimateAffinePartial2D(box.astype(np.float32), moved.astype(np.float32))
    if M is None:
        return None
    fit = box @ M[:, :2].T + M[:, 2]
    skewed = np.abs(fit - moved).max() >= GRID_FIX_FRACTION * max(w, h)
    if outline_found and not skewed:
        return None
    # Rectify the source by the grid alone, upright as the camera saw it (a wrong outline can
    # also turn the page), cropped to where both line families are.
    allp = np.vstack([lines.horizontal.reshape(-1, 2), lines.vertical.reshape(-1, 2)])
    G = rectifying_homography(lines, tuple(np.median(allp, axis=0)))
    if G is None:
        return None
    region = grid_region(lines, G, cell=max(src.shape[:2]) / 60)
    if region is None:
        return None
    x0, y0, x1, y1 = region
    if not skewed:
        corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float64)
        seen = cv2.perspectiveTransform(corners, np.linalg.inv(G))[0]
        if _quad_area(seen) >= GRID_FILLS_FRACTION * src.shape[0] * src.shape[1]:
            return None
    pad = 0.03 * max(x1 - x0, y1 - y0)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    k = min(1.0, APPROX_MAX_SIDE / max(x1 - x0, y1 - y0))
    T = np.array([[k, 0, -k * x0], [0, k, -k * y0], [0, 0, 1]], np.float64)
    A2 = T @ G
    W2, H2 = (x1 - x0) * k, (y1 - y0) * k
    turn = 0.0
    if H2 > W2 * 1.05:
        A2 = np.array([[0, -1, H2], [1, 0, 0], [0, 0, 1]], np.float64) @ A2
        W2, H2 = H2, W2
        turn = 90.0
    if W2 < 100 or H2 < 60:
        return None
    return A2, (int(round(W2)), int(round(H2))), turn


def rotate_half_turn(page: RectifiedPage) -> RectifiedPage:
    """The same page turned by 180 degrees (for upside-down photos)."""
    h, w = page.image.shape[:2]
    R = np.array([[-1, 0, w - 1], [0, -1, h - 1], [0, 0, 1]], np.float64)
    return RectifiedPage(
        np.ascontiguousarray(page.image[::-1, ::-1]),
        R @ page.homography,
        page.grid,
        page.page_found,
        page.quad,
        (page.rotated_deg + 180.0) % 360,
        page.warnings,
        page.source_px_per_mm,
        page.perspective,
        page.upright_deg,
    )
