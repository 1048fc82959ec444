"""Perspective from the grid itself: the printed grid's two families of straight lines meet at two
vanishing points, which fix the page plane whatever the paper's outline looks like. A page
outline found from brightness goes wrong where glare, a shadow or another sheet joins or cuts the
paper; the grid lines do not. Used by edge.digitize.page to check and, when needed, replace the
outline's warp (the approach of Open-ECG-Digitizer's Hough step, done with OpenCV's line
segment detector and a RANSAC vanishing point)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .grid import darkest_channel
from .numeric import percentile

DETECT_SIDE = 1600  # line segments are found on an image this big (1 mm lines ~ 4 px apart)
DETECT_SIDE_FINE = 2400  # and again this big when that shows too few: a small or faint page's
# 1 mm lines merge at DETECT_SIDE, and its 5 mm lines alone are too few
MIN_SEG_PX = 12  # shorter segments are text, dots or trace wiggles
FINE_TILE_PX = 1_300_000  # at DETECT_SIDE_FINE the line detector reads tiles this big (its
# buffers, ~50 bytes a pixel, would take 200 MB for the whole image); DETECT_SIDE reads it whole
TILE_OVERLAP_PX = 96  # each tile reads this far into its neighbours: a line cut at a tile's
# edge is still found whole in the tile its middle lies in, unless it is longer than this
FAMILY_SPREAD_DEG = 20.0  # lines of one family differ this much at most under perspective
MIN_FAMILY = 300  # segments a family needs: a printed grid gives thousands, stray
# lines (stripes on another sheet, trace baselines, page edges) tens
CELL_PX = 24  # occupancy cells for the grid region (at DETECT_SIDE)


@dataclass
class GridLines:
    """Line segments (N x 4, x1 y1 x2 y2, in the image given) split into the grid's two families."""

    horizontal: np.ndarray
    vertical: np.ndarray
    v_h: np.ndarray  # homogeneous vanishing point of the horizontal family
    v_v: np.ndarray  # ... of the vertical family

    def transformed(self, H: np.ndarray) -> "GridLines":
        """The same lines and vanishing points seen through the homography H."""

        def segs(s: np.ndarray) -> np.ndarray:
            return cv2.perspectiveTransform(s.reshape(1, -1, 2).astype(np.float64), H)[0].reshape(
                -1, 4
            )

        return GridLines(segs(self.horizontal), segs(self.vertical), H @ self.v_h, H @ self.v_v)


def _segments(gray: np.ndarray, tile_px: float = float("inf")) -> np.ndarray:
    """Line segments (N x 4) of at least MIN_SEG_PX. An image over `tile_px` pixels is read in
    tiles (the detector holds ~50 bytes a pixel): each tile with a TILE_OVERLAP_PX margin,
    keeping the segments whose middle lies in its own part, so none is counted twice."""
    h, w = gray.shape[:2]
    nx = ny = 1
    while (w / nx) * (h / ny) > tile_px:
        if w / nx >= h / ny:
            nx += 1
        else:
            ny += 1
    xs = np.linspace(0, w, nx + 1).round().astype(int)
    ys = np.linspace(0, h, ny + 1).round().astype(int)
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_NONE, 1.0)
    out = []
    for j in range(ny):
        for i in range(nx):
            x0, x1 = max(0, xs[i] - TILE_OVERLAP_PX), min(w, xs[i + 1] + TILE_OVERLAP_PX)
            y0, y1 = max(0, ys[j] - TILE_OVERLAP_PX), min(h, ys[j + 1] + TILE_OVERLAP_PX)
            segs = lsd.detect(np.ascontiguousarray(gray[y0:y1, x0:x1]))[0]
            if segs is None:
                continue
            segs = segs.reshape(-1, 4).astype(np.float64) + [x0, y0, x0, y0]
            mx, my = (segs[:, 0] + segs[:, 2]) / 2, (segs[:, 1] + segs[:, 3]) / 2
            own = (mx >= xs[i]) & (mx < xs[i + 1]) & (my >= ys[j]) & (my < ys[j + 1])
            out.append(segs[own])
    if not out:
        return np.zeros((0, 4), np.float64)
    segs = np.concatenate(out)
    return segs[_lengths(segs) >= MIN_SEG_PX]


def _lengths(segs: np.ndarray) -> np.ndarray:
    return np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])


def _angle_deg(segs: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(segs[:, 3] - segs[:, 1], segs[:, 2] - segs[:, 0])) % 180.0


def _geometry(segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints and unit directions of segments."""
    m = 0.5 * (segs[:, :2] + segs[:, 2:])
    d = segs[:, 2:] - segs[:, :2]
    return m, d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-12)


def _cos_to(m: np.ndarray, d: np.ndarray, V: np.ndarray) -> np.ndarray:
    """|cos| of the angle between each segment and the line from its midpoint to each vanishing
    point in V (B x 3, homogeneous) -> B x N."""
    t = V[:, None, :2] - m[None, :, :] * V[:, None, 2:3]
    t /= np.linalg.norm(t, axis=2, keepdims=True) + 1e-12
    return np.abs(t[..., 0] * d[None, :, 0] + t[..., 1] * d[None, :, 1])


def _vanishing_point(
    segs: np.ndarray, rng: np.random.Generator, iters: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """RANSAC over pairs of segments, scored by the length of the segments pointing at the point
    (within about a pixel over their length), then a least-squares refinement on those."""
    p1 = np.c_[segs[:, :2], np.ones(len(segs))]
    p2 = np.c_[segs[:, 2:], np.ones(len(segs))]
    lines = np.cross(p1, p2)
    lines /= np.linalg.norm(lines[:, :2], axis=1, keepdims=True) + 1e-12
    length = _lengths(segs)
    cos_tol = np.cos(np.maximum(np.arctan(1.0 / length), np.radians(0.3)))
    m, d = _geometry(segs)
    pairs = rng.choice(len(segs), (iters, 2), p=length / length.sum())
    V = np.cross(lines[pairs[:, 0]], lines[pairs[:, 1]])
    V = V[np.linalg.norm(V, axis=1) > 1e-12]
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    scores = np.concatenate(
        [
            ((_cos_to(m, d, V[i : i + 50]) > cos_tol) * length).sum(axis=1)
            for i in range(0, len(V), 50)
        ]
    )
    best = V[int(np.argmax(scores))]
    inl = _cos_to(m, d, best[None])[0] > cos_tol
    L = lines[inl] * np.sqrt(length[inl])[:, None]
    _, _, vt = np.linalg.svd(L, full_matrices=False)
    v = vt[-1]
    inl2 = _cos_to(m, d, v[None])[0] > cos_tol
    if inl2.sum() >= inl.sum():
        return v, inl2
    return best, inl


def find_grid_lines(
    img_bgr: np.ndarray, roi: tuple[int, int, int, int] | None = None, seed: int = 0
) -> GridLines | None:
    """The grid's two line families and their vanishing points in `img_bgr` (any size; found on a
    copy shrunk to DETECT_SIDE, or DETECT_SIDE_FINE when that shows too few lines; returned in the
    given image's pixels), looking only inside `roi` (x0, y0, x1, y1) when given. None when there
    are not two clear families of straight lines (no grid, or too little of it in view)."""
    for side in (DETECT_SIDE, DETECT_SIDE_FINE):
        lines = find_grid_lines_at(img_bgr, roi, seed, side)
        if lines is not None or max(img_bgr.shape[:2]) <= side:
            return lines
    return None


def find_grid_lines_at(
    img_bgr: np.ndarray, roi: tuple[int, int, int, int] | None, seed: int, side: int
) -> GridLines | None:
    """find_grid_lines on a copy shrunk to `side`."""
    h, w = img_bgr.shape[:2]
    s = min(1.0, side / max(h, w))
    x0, y0, x1, y1 = roi if roi is not None else (0, 0, w, h)
    x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    crop = img_bgr[y0:y1, x0:x1]
    small = cv2.resize(
        crop, (max(1, int((x1 - x0) * s)), max(1, int((y1 - y0) * s))), interpolation=cv2.INTER_AREA
    )
    gray = darkest_channel(small)  # grid lines of any colour are dark here
    gray = np.ascontiguousarray(gray)
    del small  # not alive beside the line detector's own buffers (~50 bytes a pixel)
    segs = _segments(gray, FINE_TILE_PX if side > DETECT_SIDE else float("inf"))
    if len(segs) < 2 * MIN_FAMILY:
        return None
    ang = _angle_deg(segs)
    length = _lengths(segs)
    hist = np.bincount(np.round(ang).astype(int) % 180, weights=length, minlength=180)
    hist = np.real(np.fft.ifft(np.fft.fft(hist) * np.fft.fft(_circ_gauss(180, 2.0))))
    a1 = int(np.argmax(hist))
    dist = np.abs((np.arange(180) - a1 + 90) % 180 - 90)
    a2 = int(np.argmax(np.where(dist >= 35, hist, -1)))
    fams = []
    rng = np.random.default_rng(seed)
    for a in (a1, a2):
        sel = np.abs((ang - a + 90) % 180 - 90) <= FAMILY_SPREAD_DEG
        if sel.sum() < MIN_FAMILY:
            return None
        v, inl = _vanishing_point(segs[sel], rng)
        if inl.sum() < MIN_FAMILY:
            return None
        fams.append((a, segs[sel][inl], v))
    # Horizontal family: the one nearer 0 degrees.
    fams.sort(key=lambda f: min(f[0], 180 - f[0]))
    (_, sh, vh), (_, sv, vv) = fams
    S = np.array([[1 / s, 0, x0], [0, 1 / s, y0], [0, 0, 1.0]])
    off = np.array([x0, y0, x0, y0], np.float64)
    return GridLines(sh / s + off, sv / s + off, S @ vh, S @ vv)


def _circ_gauss(n: int, sigma: float) -> np.ndarray:
    x = np.minimum(np.arange(n), n - np.arange(n)).astype(np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def rectifying_homography(lines: GridLines, centre: tuple[float, float]) -> np.ndarray | None:
    """Homography sending both vanishing points to infinity along x and y (the grid becomes
    axis-parallel and evenly spaced), with unit scale and no shift at `centre`. None when the
    vanishing line crosses the image region (a degenerate or wrong estimate)."""
    cx, cy = centre
    N = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
    vh, vv = N @ lines.v_h, N @ lines.v_v
    l_inf = np.cross(vh, vv)
    if abs(l_inf[2]) < 1e-12:
        return None
    l_inf = l_inf / l_inf[2]
    Hp = np.array([[1, 0, 0], [0, 1, 0], [l_inf[0], l_inf[1], 1.0]])
    dh, dv = (Hp @ vh)[:2], (Hp @ vv)[:2]
    dh = dh / (np.linalg.norm(dh) + 1e-12)
    dv = dv / (np.linalg.norm(dv) + 1e-12)
    if dh[0] < 0:
        dh = -dh
    if dv[1] < 0:
        dv = -dv
    B = np.array([dh, dv]).T
    if np.linalg.det(B) < 0.3:  # families nearly parallel, or mirrored
        return None
    Af = np.eye(3)
    Af[:2, :2] = np.linalg.inv(B)
    G = Af @ Hp
    # Unit scale along each axis at the centre.
    J = G[:2, :2] - np.outer(G[:2, 2], G[2, :2])  # Jacobian at the origin (G[2,2] = 1)
    sx = 1.0 / (np.linalg.norm(np.linalg.inv(J)[:, 0]) + 1e-12)
    sy = 1.0 / (np.linalg.norm(np.linalg.inv(J)[:, 1]) + 1e-12)
    G = np.diag([1 / sx, 1 / sy, 1.0]) @ G
    return np.linalg.inv(N) @ G @ N


def grid_region(
    lines: GridLines, H: np.ndarray, cell: float
) -> tuple[float, float, float, float] | None:
    """Bounding box (x0, y0, x1, y1), after H, of the largest patch where both line families are
    found: a printed grid, not a striped sheet or wood grain beside it."""

    def pts(segs):
        t = np.linspace(0, 1, 5)[None, :, None]
        p = segs[:, None, :2] * (1 - t) + segs[:, None, 2:] * t
        return cv2.perspectiveTransform(p.reshape(1, -1, 2), H)[0]

    ph, pv = pts(lines.horizontal), pts(lines.vertical)
    allp = np.vstack([ph, pv])
    lo = percentile(allp, 0.5, axis=0) - 2 * cell
    hi = percentile(allp, 99.5, axis=0) + 2 * cell
    shape = tuple(int(np.ceil(v)) + 1 for v in ((hi - lo)[::-1] / cell))
    if shape[0] * shape[1] > 40000:
        return None

    def occ(p):
        m = np.zeros(shape, np.uint8)
        ij = ((p - lo) / cell).astype(int)
        ok = (ij[:, 0] >= 0) & (ij[:, 1] >= 0) & (ij[:, 0] < shape[1]) & (ij[:, 1] < shape[0])
        m[ij[ok, 1], ij[ok, 0]] = 1
        return cv2.dilate(m, np.ones((3, 3), np.uint8))

    both = occ(ph) & occ(pv)
    both = cv2.morphologyEx(both, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(both)
    if n <= 1:
        return None
    # Glare or a shadow can split the grid into patches: keep every big one.
    area = stats[1:, cv2.CC_STAT_AREA]
    big = 1 + np.flatnonzero(area >= 0.2 * area.max())
    x0 = stats[big, 0].min()
    y0 = stats[big, 1].min()
    x1 = (stats[big, 0] + stats[big, 2]).max()
    y1 = (stats[big, 1] + stats[big, 3]).max()
    return (
        float(lo[0] + x0 * cell),
        float(lo[1] + y0 * cell),
        float(lo[0] + x1 * cell),
        float(lo[1] + y1 * cell),
    )
