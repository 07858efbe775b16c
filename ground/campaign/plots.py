"""The campaign report's figures (needs matplotlib, the ``plot`` extra): landing dispersion
scatter with its CEP circles, and detection latency per fault kind."""

from __future__ import annotations

import math
from pathlib import Path

from ground.campaign.analysis import GroupStats
from ground.campaign.stats import percentiles


def landing_scatter(groups: list[GroupStats], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 6.0))
    for g in groups:
        if not g.landing_points:
            continue
        east, north = zip(*g.landing_points, strict=True)
        points = ax.scatter(east, north, s=10, alpha=0.7, label=f"{g.name} ({len(east)})")
        for radius, style in ((g.cep50_m, "-"), (g.cep95_m, "--")):
            if math.isfinite(radius):
                ax.add_patch(plt.Circle((0, 0), radius, fill=False, ls=style,
                                        color=points.get_facecolor()[0]))
    ax.plot([0], [0], "k+", ms=12)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("east off the planned landing point (m)")
    ax.set_ylabel("north off the planned landing point (m)")
    ax.set_title("Landing dispersion, runs without LAND_NOW (CEP50 solid, CEP95 dashed)")
    if any(g.landing_points for g in groups):
        ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def latency_plot(latencies: dict[str, list[float]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in sorted(latencies) if latencies[n]]
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * max(len(names), 2) + 1.2))
    for i, name in enumerate(names):
        values = latencies[name]
        ax.plot(values, [i] * len(values), "|", ms=10, alpha=0.6)
        ax.plot(percentiles(values, (50, 95)), [i, i], "k-", lw=2)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("detection latency: LAND_NOW - first fault (s)")
    ax.set_title("Detection latency per fault kind (each run; bar p50 to p95)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
