"""Small marks every chart uses: a note where data is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

NOTE_COLOUR = "#555555"


def note(ax: Axes, text: str, *, corner: bool = False) -> None:
    """``text`` in the middle of ``ax`` (or its top right corner), in grey."""
    x, y, ha, va = (0.99, 0.95, "right", "top") if corner else (0.5, 0.5, "center", "center")
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=8, color=NOTE_COLOUR)
