"""A figure to PNG bytes, and PNG bytes to the markdown image Dagster's UI shows.

Dagster documents plots in metadata as a markdown value holding a base64 data-URI image
(``MetadataValue.md``); the UI renders it on the asset's events and overview. Charts are kept
small (``MAX_CHART_BYTES``) because every one is stored in the event log.
"""

from __future__ import annotations

import base64
import io
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_CHART_BYTES = 80_000
"""Upper bound for one chart in the event log."""
DPI = 80


@cache
def matplotlib_agg() -> ModuleType:
    """matplotlib on the non-interactive Agg backend, with ``figure`` and ``dates`` loaded,
    imported when the first chart is drawn: the import takes about half a second, and most
    processes that load the definitions (each run, each ``dg launch``, the code server)
    draw no chart. The charts reach matplotlib only through here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates
    import matplotlib.figure

    return matplotlib


def new_figure(
    width_in: float = 9.0, height_in: float = 4.5, margins: dict[str, float] | None = None
) -> Figure:
    """A figure not registered with pyplot, so nothing global keeps it alive.

    Laid out by matplotlib's constrained layout, or, given ``margins`` (``left``, ``right``,
    ``top``, ``bottom``, ``hspace`` as for ``subplots_adjust``), by those fixed margins:
    about half the drawing time, for charts drawn many times.
    """
    figure_class = matplotlib_agg().figure.Figure
    if margins is None:
        return figure_class(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    figure = figure_class(figsize=(width_in, height_in), dpi=DPI)
    figure.subplots_adjust(**margins)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as an 8-bit palette PNG when Pillow can quantise it, else as drawn.

    Raises ``ValueError`` when the result exceeds ``MAX_CHART_BYTES`` even then.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    data = buffer.getvalue()
    if len(data) > MAX_CHART_BYTES:
        data = _quantised(data)
    if len(data) > MAX_CHART_BYTES:
        raise ValueError(f"chart is {len(data)} bytes, over the {MAX_CHART_BYTES}-byte budget")
    return data


def _quantised(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        palette = image.convert("RGB").quantize(colors=64)
        out = io.BytesIO()
        palette.save(out, format="PNG", optimize=True)
        return out.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows ``png`` inline (for ``dg.MetadataValue.md``)."""
    encoded = base64.b64encode(png).decode("ascii")
    return f"![{alt}](data:image/png;base64,{encoded})"
