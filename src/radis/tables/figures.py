"""Figure 1 (translation against MT-Bench) and the drift figure (translation gain against drift from
backbone, not in the paper), each with the points it plots for the record."""

from __future__ import annotations

from pathlib import Path

from radis.io import InputError, write_png
from radis.languages import Direction
from radis.tables.general import DRIFT_COLUMNS, DRIFT_DECIMALS, drift_resamples, general_score
from radis.tables.model import BASE, DECIMALS, METRIC_NAMES, PRIOR_GROUP, method_name
from radis.tables.translation import translation_resamples

def figure1(translation: list[dict], general: list[dict], path: Path, metric: str,
            prior: dict[str, dict] | None = None) -> list[dict]:
    """Figure 1: average translation score against MT-Bench, one point per backbone × method (PNG);
    the prior MT models (``prior``: name → ``{label}``) form one group of their own.

    Returns the plotted points so the caller can record them beside the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sums: dict[tuple[str, str], list[float]] = {}
    for r in translation:
        value = r["metrics"].get(metric)
        if value is not None:
            sums.setdefault((r["backbone"], r["method"]), []).append(float(value))
    mt = {(r["backbone"], r["method"]): general_score(r) for r in general if r["benchmark"] == "mtbench"}
    prior = prior or {}
    points = [{"backbone": b, "method": m, "translation": sum(v) / len(v), "mtbench": mt.get((b, m), "n/a: no result"),
               "group": PRIOR_GROUP if b in prior else b,
               "label": prior[b].get("label", b) if b in prior else method_name(m).removeprefix("w/ ")}
              for (b, m), v in sorted(sums.items())]
    plotted = [p for p in points if isinstance(p["mtbench"], float)]
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=150)
    markers = "osD^v<>p*h"
    groups = sorted({p["group"] for p in plotted})
    for i, g in enumerate(groups):
        mine = [p for p in plotted if p["group"] == g]
        ax.scatter([p["translation"] for p in mine], [p["mtbench"] for p in mine], marker=markers[i % len(markers)],
                   label=g, s=40)
        for p in mine:
            ax.annotate(p["label"], (p["translation"], p["mtbench"]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
    missing = [p for p in points if not isinstance(p["mtbench"], float)]
    if missing:  # say which models could not be placed, and why, instead of dropping them silently
        lines = [f"{p['label'] if p['group'] == PRIOR_GROUP else p['backbone'] + ' ' + method_name(p['method'])}: "
                 f"MT-Bench {p['mtbench']}" for p in missing[:6]]
        if len(missing) > 6:
            lines.append(f"... and {len(missing) - 6} more")
        ax.text(0.02, 0.98, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=5, wrap=True)
    _finish_figure(fig, ax, path, legend=bool(groups), title="Translation vs general ability",
                   xlabel=f"Average translation {METRIC_NAMES.get(metric, metric)} (8 directions)"
                   if len({r['direction'] for r in translation}) == 8 else
                   f"Average translation {METRIC_NAMES.get(metric, metric)}", ylabel="MT-Bench score")
    return points


def _finish_figure(fig, ax, path: Path, *, xlabel: str, ylabel: str, title: str, legend: bool) -> None:
    """Labels, grid and legend as every scatter figure of the report has them; written atomically."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_png(path, fig)


def drift_figure(translation: list[dict], drift: list[dict], path: Path, metric: str,
                 bootstrap: dict | None = None) -> list[dict]:
    """Translation gain against drift from backbone (not in the paper), one point per backbone ×
    trained method (PNG): the paper's claim read without any judge. The gain is the mean change of
    ``metric`` to the backbone's own score over the directions of the run (the deltas of Tables
    1-2); the drift is the mean per-token KL(backbone ‖ model) of Tables 3 and 5. RaDis should sit
    as high as Vanilla-FT (it learns translation) and further left (it forgets less). Each point
    has its 95% bootstrap intervals as error bars, where the cells kept per-item scores: the gain's
    over the test items (paired with the backbone's, as the tables' deltas), the drift's over the
    answers.

    Returns the points (with ΔNLL and the intervals too) so the caller can record them beside the
    figure; a model whose drift has no answer tokens is listed on the plot instead of being placed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores: dict[tuple[str, str], dict[str, float]] = {}
    for r in translation:
        value = r["metrics"].get(metric)
        if value is not None:
            scores.setdefault((r["backbone"], r["method"]), {})[r["direction"]] = float(value)
    drifts = {(r["backbone"], r["method"]): r["metrics"] for r in drift}
    points = []
    for (b, m), metrics in sorted(drifts.items()):
        base, own = scores.get((b, BASE), {}), scores.get((b, m), {})
        directions = sorted(set(own) & set(base))
        if not directions:
            raise InputError(f"drift figure: no {metric} result of both backbone={b} method={m} and its backbone "
                             f"in any direction (have {sorted(own)} and {sorted(base)})")
        kl, dnll = (metrics.get(key) for key in DRIFT_COLUMNS.values())
        points.append({"backbone": b, "method": m, "label": method_name(m).removeprefix("w/ "),
                       "gain": round(sum(own[d] - base[d] for d in directions) / len(directions), DECIMALS) + 0.0,
                       "directions": directions,
                       "drift_kl": round(kl, DRIFT_DECIMALS) + 0.0 if isinstance(kl, (int, float)) else "n/a: no answer tokens",
                       "drift_delta_nll": round(dnll, DRIFT_DECIMALS) + 0.0 if isinstance(dnll, (int, float)) else None})
    _figure_intervals(points, translation, drift, metric, bootstrap)
    plotted = [p for p in points if isinstance(p["drift_kl"], float)]
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=150)
    markers = "osD^v<>p*h"
    for i, b in enumerate(sorted({p["backbone"] for p in plotted})):
        mine = [p for p in plotted if p["backbone"] == b]
        ax.scatter([p["drift_kl"] for p in mine], [p["gain"] for p in mine], marker=markers[i % len(markers)], label=b,
                   s=40)
        for p in mine:  # error bars where the cells kept per-item scores
            xerr = [[p["drift_kl"] - p["drift_kl_interval"][0]], [p["drift_kl_interval"][1] - p["drift_kl"]]] \
                if p.get("drift_kl_interval") else None
            yerr = [[p["gain"] - p["gain_interval"][0]], [p["gain_interval"][1] - p["gain"]]] \
                if p.get("gain_interval") else None
            if xerr or yerr:
                ax.errorbar([p["drift_kl"]], [p["gain"]], xerr=xerr, yerr=yerr, fmt="none", ecolor="grey", lw=0.8,
                            capsize=2)
        for p in mine:
            ax.annotate(p["label"], (p["drift_kl"], p["gain"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    missing = [f"{p['backbone']} {p['label']}: drift {p['drift_kl']}" for p in points if p not in plotted]
    if missing:
        ax.text(0.02, 0.98, "\n".join(missing), transform=ax.transAxes, va="top", fontsize=5)
    ax.axhline(0, color="grey", lw=0.8)
    _finish_figure(fig, ax, path, legend=bool(plotted), title="Translation gain vs drift (not in the paper)",
                   xlabel="Drift from backbone: KL(backbone ‖ model), nats/token",
                   ylabel=f"Translation gain over the backbone ({METRIC_NAMES.get(metric, metric)})")
    return points


def _figure_intervals(points: list[dict], translation: list[dict], drift: list[dict], metric: str,
                      bootstrap: dict | None) -> None:
    """Add to each drift-figure point the 95% intervals of its gain (the mean over its directions of
    the model's resampled score minus the backbone's on the same resamples) and of its drift KL."""
    import numpy as np

    from radis.stats import interval

    records = {(r["backbone"], r["method"], str(Direction.parse(r["direction"]))): r for r in translation}
    dirs = sorted({Direction.parse(r["direction"]) for r in translation}, key=str)
    resamples = {**translation_resamples(records, dirs, metric, bootstrap), **drift_resamples(drift, bootstrap)}
    for p in points:
        b, m = p["backbone"], p["method"]
        gains = [(resamples.get((b, m, d)), resamples.get((b, BASE, d))) for d in p["directions"]]
        if all(own is not None and base is not None for own, base in gains):
            low, high = interval(np.mean([own - base for own, base in gains], axis=0))
            p["gain_interval"] = [round(low, DECIMALS) + 0.0, round(high, DECIMALS) + 0.0]
        kl = resamples.get((b, m, "Drift KL"))
        if kl is not None and isinstance(p["drift_kl"], float):
            p["drift_kl_interval"] = [round(x, DRIFT_DECIMALS) + 0.0 for x in interval(kl)]
