"""Pictures as SVG text: one layer as it works, a network as it is, a run as one HTML page.

No dependency beyond the standard library; the layer picture stays on the shape path
(no numpy).
"""

from .layer import layer_svg

__all__ = ["layer_svg"]
