"""Pictures as SVG text: one layer as it works (`layer`), a network as it is (`network`), a
run as one HTML page (`html`); `files` writes them. No dependency beyond the standard
library; the layer picture stays on the shape path (no numpy). Nothing is imported here, so
that `convtool shape` can borrow the colours (`svg`) without the rest.
"""
