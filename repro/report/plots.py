"""Matplotlib figures of run records. Headless (Agg) and byte-stable: the same
records give the same PNG bytes (no timestamps or version strings embedded)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from repro.train.atomic import write_atomic  # noqa: E402

PNG_METADATA = {"Software": None}


def save(fig, path: Path) -> Path:
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110, metadata=PNG_METADATA))
    plt.close(fig)
    return path


def error_by_row(
    rows: Sequence[str], runs: pd.DataFrame, published: Mapping[str, float], title: str, path: Path,
    published_label: str = "published", away: Sequence[str] = (), away_label: str = "",
    metric: str = "test_error", metric_label: str = "test error (%)",
) -> Path:
    """Test error (or ``metric``) per configuration: each seed as a dot, the mean as a bar
    with ± 1 sd, the published figure as a red diamond. Rows in ``away`` (tested on
    another data set) get their own colour."""
    # At least 8 wide: the two-column legend above the axes fits beside few rows too.
    fig, ax = plt.subplots(figsize=(max(8.0, 1.1 * len(rows)), 4.6))
    x = np.arange(len(rows))
    means, sds = [], []
    for i, row in enumerate(rows):
        errs = runs.loc[runs["name"] == row, metric].dropna().to_numpy()
        means.append(errs.mean() if len(errs) else np.nan)
        sds.append(errs.std(ddof=1) if len(errs) > 1 else 0.0)
        ax.scatter(np.full(len(errs), i) + np.linspace(-0.12, 0.12, len(errs)), errs, s=14, color="black", zorder=3)
    home = [i for i, r in enumerate(rows) if r not in away]
    other = [i for i, r in enumerate(rows) if r in away]
    for idx, colour, label in ((home, "#8fb3d9", "ours (mean ± sd over seeds; dots: seeds)"),
                               (other, "#f0b27a", away_label or "ours, on another test set")):
        if idx:
            ax.bar(x[idx], np.take(means, idx), yerr=np.take(sds, idx), color=colour, capsize=4, label=label)
    pub = [published.get(r, np.nan) for r in rows]
    if np.isfinite(np.asarray(pub, dtype=float)).any():  # no published numbers: no legend entry for them
        ax.scatter(x, pub, marker="D", color="#c0392b", zorder=4, label=published_label)
    ax.set_xticks(x, rows, rotation=25, ha="right")
    ax.set_ylabel(metric_label)
    ax.set_title(title, pad=34)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return save(fig, path)


def learning_curves(curves: Mapping[str, pd.DataFrame], title: str, path: Path, dashed: Sequence[str] = (),
                    splits: Sequence[str] = ("train", "test")) -> Path:
    """Train and test error (or ``splits``) per pass, mean over seeds, one line per
    configuration (``dashed``: configurations measured on another data set)."""
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4.2), sharey=True, squeeze=False)
    axes = axes[0]
    for split, ax in zip(splits, axes):
        for label, frame in curves.items():
            col = f"{split}_error"
            if frame.empty or col not in frame:
                continue
            mean = frame.groupby("pass")[col].mean()
            ax.plot(mean.index, mean.to_numpy(), label=label, linewidth=1.4, linestyle="--" if label in dashed else "-")
        # Logarithmic above 0.1%, linear below, so a run that reaches 0 errors stays on the plot.
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("pass")
        ax.set_title(f"{split} error (%, mean over seeds)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("error (%)")
    axes[-1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def image_grid(images: np.ndarray, captions: Sequence[str], title: str, path: Path, columns: int = 16) -> Path:
    """Grayscale images (uint8, ink dark on a light background) with a caption each."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.75, rows * 0.9 + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(captions[i], fontsize=6, pad=1.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def kernel_rows(kernels: Mapping[str, np.ndarray], title: str, path: Path) -> Path:
    """First-layer kernels, one configuration per row: kernels[label] is
    [n_kernels, k, k]; each kernel scaled to its own symmetric range."""
    labels = list(kernels)
    width = max(k.shape[0] for k in kernels.values())
    fig, axes = plt.subplots(len(labels), width, figsize=(width * 0.7 + 1.6, len(labels) * 0.8 + 0.5), squeeze=False)
    for r, label in enumerate(labels):
        ks = kernels[label]
        for c in range(width):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(ks):
                lim = float(np.abs(ks[c]).max()) or 1.0
                ax.imshow(ks[c], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)
