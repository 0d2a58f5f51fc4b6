"""The course's figure style: large type and clear lines for a projector.

Scripts call `use_course_style()` once, before their first figure. It changes only
matplotlib's rcParams; a student can delete the call and every script still runs.
"""

from __future__ import annotations

import matplotlib as mpl

COURSE_STYLE: dict[str, object] = {
    "figure.figsize": (10.0, 5.6),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "figure.titlesize": 16,
    "legend.fontsize": 11,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "lines.linewidth": 2.0,
    "lines.markersize": 6,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
}


def use_course_style() -> None:
    """Apply the course's figure style to every figure made after the call."""
    mpl.rcParams.update(COURSE_STYLE)
