"""Training plots written as PNG (matplotlib's Agg backend, imported only when drawing)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .storage import atomic_write_bytes


def plot_losses(history: Mapping[str, Sequence[float]], path: str | os.PathLike[str],
                title: str = "") -> Path:
    """Plot loss curves per epoch and write them to ``path`` as PNG, atomically.

    Series whose name contains ``kl`` go in a second panel, since their scale differs.

    Args:
        history: series name → one value per epoch (epoch 1 first).
        path: PNG file to write.
        title: figure title.

    Example:
        >>> plot_losses({"val loss": [3.5, 2.4]}, "loss.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    series = {k: list(v) for k, v in history.items() if len(v)}
    kl = {k: v for k, v in series.items() if "kl" in k.lower()}
    main = {k: v for k, v in series.items() if k not in kl}
    panels = [p for p in (main, kl) if p] or [{}]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        for name, values in panel.items():
            ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                    markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats / image")
        ax.grid(alpha=0.3)
        if panel:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
