"""Photo-realistic ECG printout synthesizer: pages whose true signals, trace pixels and geometry
are known exactly, for training and testing the digitizer and for end-to-end device tests.

`render_page(signals, fs, layout=..., mode="clean"|"scan"|"photo", seed=...) -> RenderedPage`,
`synthetic_ecg(seconds, fs, seed, kind=...) -> (n, 12) mV`, `save_page(page, "out/page.png")`,
`remake_page(signals, fs, meta)` (re-render from a recorded meta alone).

Coordinates: flat page pixels with pixel centres at integers. A sample v (mV) at time t of a
segment is drawn at x = x0_px + (t - t0_s) * speed_mm_s * px_per_mm,
y = baseline_y - v * gain_mm_mv * px_per_mm; image coordinates = homography @ (x, y, 1)
(plus `photo.paper_displacement` where `distortion.homography_exact` is false).

`meta` keys: fs, n_samples, lead_names, px_per_mm, dpi, layout, speed_mm_s, gain_mm_mv, page_mm,
page_px, grid_rect_px (gridded area), block_rect_px (pulses + traces), printed_seconds,
row_pitch_px, trace_thickness_px, leads {name: [{row, col, box [x0, y0, x1, y1], baseline_y,
t0_s, t1_s, x0_px}]}, calibration [{row, x_start, x_rise, x_fall, x_end, baseline_y, top_y, mv}],
separators, labels [{text, row, col, box}], text (header/footer lines and boxes), fade, style
(PageStyle fields), distortion (every scan/photo parameter + homography 3x3 flat -> image,
image_size, homography_exact), seed, mode, randomized_style, image_size [w, h].
"""

from .ecg import synthetic_ecg
from .render import MODES, RenderedPage, remake_page, render_flat, render_page
from .save import save_page
from .style import GRID_STYLES, PAGE_SIZES_MM, PageStyle, random_style

__all__ = [
    "render_page",
    "remake_page",
    "render_flat",
    "RenderedPage",
    "synthetic_ecg",
    "save_page",
    "PageStyle",
    "random_style",
    "GRID_STYLES",
    "PAGE_SIZES_MM",
    "MODES",
]
