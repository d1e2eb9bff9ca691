"""Figures of an evaluation report (:func:`harflow.patterns.evaluate.report`): recall by effect size,
detection delays, inactivity time to alarm. matplotlib with the Agg backend: files only, no display."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_report(rep: dict, out_dir: str | Path) -> list[Path]:
    """PNG figures of a :func:`report`: recall by effect size, detection delays, time to alarm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    ch = rep.get("changes")
    if ch:
        kinds = list(ch["by_kind"])
        fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3.2), squeeze=False)
        for ax, kind in zip(axes[0], kinds, strict=True):
            window = 21 if kind == "walking_ramp" else 7
            bins = ch["by_kind"][kind]["by_effect"]
            labels = list(bins)
            ax.bar(
                labels,
                [bins[b][f"within_{window}d"] or 0 for b in labels],
                color="tab:blue",
                label="within the window",
            )
            ax.plot(labels, [bins[b]["ever"] or 0 for b in labels], "ko-", ms=3, label="ever")
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{kind} (bars: ≤{window} d)", fontsize=8)
            ax.tick_params(axis="x", labelsize=7, rotation=30)
        axes[0][0].set_ylabel("recall")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        written.append(_save(fig, out / "recall_by_effect.png"))
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for kind in kinds:
            d = [r["delay"] for r in ch["rows"] if r["kind"] == kind and r["delay"] is not None]
            if d:
                ax.hist(d, bins=np.arange(0, 46, 1), histtype="step", label=kind)
        ax.set_xlabel("detection delay (days after the true onset)")
        ax.set_ylabel("changes")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(_save(fig, out / "delay_distribution.png"))
    ina = rep.get("inactivity")
    if ina:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for posture in sorted({r["posture"] for r in ina["rows"]}):
            d = [r["delay"] for r in ina["rows"] if r["posture"] == posture and r["delay"] is not None]
            if d:
                ax.hist(d, bins=np.arange(0, 300, 10), histtype="step", label=posture)
        ax.axvline(60, color="grey", ls=":")
        ax.set_xlabel("time to alarm (min after the emergency began)")
        ax.set_ylabel("emergencies")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(_save(fig, out / "time_to_alarm.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
