"""Tiny, dependency-free Markdown table rendering with stable formatting."""

from __future__ import annotations

import math
from collections.abc import Sequence


def fmt(value, digits: int = 2) -> str:
    """Fixed formatting so the same records always give the same bytes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mean_sd(mean: float, sd: float, digits: int = 2) -> str:
    if sd is None or math.isnan(sd):
        return fmt(mean, digits)
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
