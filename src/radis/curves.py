"""The report's training curves: the loss of every method of one backbone, step by step, in one figure.

Why: a run that did not learn (a loss that never moved) or diverged shows here before any table is
read. The curves come from each training job's own record, the Trainer's log history that
:func:`radis.training.trainer.train` keeps in the adapter's ``radis_provenance.json`` (``summary.loss_curve``,
one loss per optimizer step, a resumed run's earlier steps included), so the figure needs no tracker;
``training.report_to`` (TensorBoard) is for watching a run while it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from radis.io import InputError, read_json, write_png


def loss_curve(adapter_dir: Path) -> list[float]:
    """The per-step training loss of one trained model, from its adapter's provenance."""
    path = Path(adapter_dir) / "radis_provenance.json"
    curve = (read_json(path).get("summary") or {}).get("loss_curve")
    if not isinstance(curve, list) or not all(isinstance(x, (int, float)) for x in curve):
        raise InputError(f"{path}: no summary.loss_curve (a list of losses)")
    return [float(x) for x in curve]


def loss_figure(curves: dict[str, Sequence[float]], backbone: str, path: Path) -> list[dict]:
    """One line per method (label -> losses by step); returns the plotted points for the record."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=150)
    for label, losses in curves.items():
        steps = range(1, len(losses) + 1)
        ax.plot(steps, losses, marker="." if len(losses) < 50 else None, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (assistant tokens)")
    ax.set_title(f"Training loss: {backbone}")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_png(path, fig)
    return [{"method": label, "step": i, "loss": loss} for label, losses in curves.items()
            for i, loss in enumerate(losses, start=1)]


def write_loss_figure(adapters: list[str], methods: list[str], backbone: str, out: str, points: str) -> None:
    """``radis loss-curves``: the training-loss figure of one backbone, one line per method."""
    from radis.io import write_json
    from radis.tables import method_name

    if len(adapters) != len(methods):
        raise InputError(f"{len(adapters)} adapters for {len(methods)} methods")
    curves = {method_name(m): loss_curve(Path(a)) for m, a in zip(methods, adapters)}
    write_json(points, loss_figure(curves, backbone, Path(out)))
