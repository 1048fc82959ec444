"""Photo-realistic ECG printout synthesizer: pages whose true signals, trace pixels and geometry
are known exactly, for training and testing the digitizer and for end-to-end device tests.

`render_page(signals, fs, layout=..., mode="clean"|"scan"|"photo", seed=...) -> RenderedPage`,
`synthetic_ecg(seconds, fs, seed) -> (n, 12) mV`, `save_page(page, "out/page.png")`.
"""

from .ecg import synthetic_ecg
from .render import MODES, RenderedPage, remake_page, render_flat, render_page
from .save import save_page
from .style import GRID_STYLES, PAGE_SIZES_MM, PageStyle, random_style

__all__ = ["render_page", "remake_page", "render_flat", "RenderedPage", "synthetic_ecg", "save_page", "PageStyle",
           "random_style", "GRID_STYLES", "PAGE_SIZES_MM", "MODES"]
