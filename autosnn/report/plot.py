"""``pareto.png``: every evaluation coloured by generation, the front (labelled with its
token mixers when the space searches them), the picks."""

from __future__ import annotations

import io

import numpy as np

from autosnn.report.front import VALUE, ok_rows
from autosnn.report.summary import RunSummary

__all__ = ["PLOT_SIZE", "pareto_png"]

#: Pixel size (width, height) of ``pareto.png``.
PLOT_SIZE = (960, 640)
_DPI = 100


def _label_mixers(ax, front) -> None:
    """Write every front point's per-block token mixers next to it (``a[s,t]``: s SSA,
    t token Q-K, c channel Q-K attention), for spaces that search the mixer."""
    from autosnn.search_spaces.subnet_config import SubnetConfig

    for (_, r) in front.iterrows():
        label = SubnetConfig.from_json(r["config"]).attention_string
        ax.annotate(label, (float(r["energy_mj"]), float(r[VALUE])), textcoords="offset points", xytext=(4, -10),
                    fontsize=7, color="tab:blue", zorder=6)


def pareto_png(summary: RunSummary) -> bytes:
    """The plot as PNG bytes (matplotlib's Agg backend; no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PLOT_SIZE[0] / _DPI, PLOT_SIZE[1] / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    rows = ok_rows(summary.evaluations)
    energy = rows["energy_mj"].to_numpy(float)
    acc = rows[VALUE].to_numpy(float)
    if "generation" in rows.columns:
        gen = rows["generation"].to_numpy(float)
        gen = np.where(np.isfinite(gen), gen, 0)
    else:
        gen = np.zeros(len(rows))
    if len(rows):
        from matplotlib.colors import LinearSegmentedColormap
        from matplotlib.ticker import MaxNLocator

        greys = LinearSegmentedColormap.from_list("generations", ["#d9d9d9", "#8c8c8c", "#252525"])
        lo = float(gen.min())
        sc = ax.scatter(energy, acc, c=gen, cmap=greys, vmin=lo, vmax=max(float(gen.max()), lo + 1),
                        s=24, edgecolors="0.3", linewidths=0.4, label="evaluated", zorder=2)
        cbar = fig.colorbar(sc, ax=ax, pad=0.02)
        cbar.set_label("generation (light: early, dark: late)")
        cbar.locator = MaxNLocator(integer=True)
        cbar.update_ticks()
    front = summary.front.sort_values("energy_mj", kind="stable")
    if len(front):
        ax.plot(front["energy_mj"].astype(float), front[VALUE].astype(float), drawstyle="steps-post",
                color="tab:blue", lw=1.6, zorder=3, label="Pareto front")
        ax.scatter(front["energy_mj"].astype(float), front[VALUE].astype(float), color="tab:blue", s=30, zorder=4)
        if getattr(summary.space, "has_attention", False):
            _label_mixers(ax, front)
    for cid, style, label in ((summary.knee, dict(marker="D", color="tab:green", s=90), "knee"),
                              (summary.pick, dict(marker="*", color="tab:red", s=260), "F_AEB pick")):
        if cid is None:
            continue
        r = summary.row(cid)
        ax.scatter([float(r["energy_mj"])], [float(r[VALUE])], zorder=5, edgecolors="black", linewidths=0.6,
                   label=f"{label} ({cid})", **style)
    if len(rows) and energy.min() > 0 and energy.max() / energy.min() > 30:
        ax.set_xscale("log")
    ax.set_xlabel("energy per inference (mJ, one sample, all T steps)")
    ax.set_ylabel("validation accuracy (fraction)" if summary.value_label == "accuracy"
                  else "training-free score (FLOPs proxy, fraction of the largest subnet)")
    filters = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in summary.filters.items())
    ax.set_title(f"{summary.campaign.name}: {summary.n_ok} evaluations, {len(summary.front)} non-dominated"
                 + (f" ({filters})" if filters else ""))
    ax.grid(True, alpha=0.3)
    if len(rows):
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()
