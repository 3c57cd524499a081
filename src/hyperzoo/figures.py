"""Matplotlib figures of the report (PNG, Agg backend)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

from hyperzoo.weights import atomic_write  # noqa: E402

# A reliability bin of fewer inputs is drawn hollow: one input's accuracy is 0 or 1.
FEW_IN_BIN = 10


def save_figure(fig, path: Path, tight: bool = True, dpi: int = 100) -> str:
    """Save and close ``fig``; returns the file's name."""
    path = Path(path)
    if tight:
        fig.tight_layout()
    # Written whole and renamed into place: never half a figure, and a symbolic link of that
    # name is replaced, not followed to a file elsewhere.
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)
    return path.name


def _plain_log_x(ax, ticks: list[int]) -> None:
    """A log x axis labelled with the plain numbers ``ticks`` (5, 10, 100), not 5×10⁰."""
    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


# Legend entries up to which a legend sits inside the axes; beyond, it goes beside them (a report
# comparing 8 runs drew 27 entries over the whole plot).
LEGEND_INSIDE = 6


def _legend(ax, fontsize: float = 7, **kwargs) -> None:
    """The axes' legend beside the axes, the figure widened by the longest label; inside only at
    a ``loc`` the caller names (a corner the data cannot reach) with a few short entries.
    Matplotlib's "best" place covered bars and lines (a histogram's bar, a detection curve)."""
    labels = ax.get_legend_handles_labels()[1]
    longest = max((len(s) for s in labels), default=0)
    if kwargs.get("loc", "best") != "best" and len(labels) <= LEGEND_INSIDE and longest <= 40:
        ax.legend(fontsize=fontsize, **kwargs)
        return
    kwargs.pop("loc", None)
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **kwargs)
    width, height = ax.figure.get_size_inches()
    # About 0.075 inch per character at 7 points, and the line sample beside it.
    ax.figure.set_size_inches(width + 0.8 + 0.075 * longest * fontsize / 7, height)


def _titled(title: str, scope: str) -> str:
    """``title`` with a second line saying what it was measured on (``scope``: images, networks)."""
    return f"{title}\n{scope}" if scope else title


def _edges(values: torch.Tensor, bins: int, min_width: float = 0.0) -> np.ndarray:
    """Bin edges over ``values``, widened where they (nearly) coincide, which numpy refuses."""
    lo, hi = values.double().min().item(), values.double().max().item()
    width = max(min_width, 1e-6 * max(abs(lo), abs(hi)), 1e-12)
    pad = max(0.0, width - (hi - lo)) / 2
    return np.linspace(lo - pad, hi + pad, bins + 1)


def _step_edges(values: torch.Tensor, step: float, bins: int) -> np.ndarray:
    """About ``bins`` bins over ``values``, which come in multiples of ``step``: each bin a whole
    number of steps wide, its edges halfway between steps, so no bin holds one step more than its
    neighbours (30 equal bins over 1/300 steps left every other bin empty)."""
    lo, hi = (round(v / step) for v in (values.double().min().item(), values.double().max().item()))
    per_bin = max(1, math.ceil((hi - lo + 1) / bins))
    return (np.arange(lo, hi + per_bin + 1, per_bin) - 0.5) * step


def accuracy_histograms(runs: dict[str, torch.Tensor], entropies: dict[str, tuple[float, int] | None],
                        path: Path, scope: str = "", examples: int | None = None) -> str:
    """Each run's networks' accuracies as a share of its own pool (pools of 10 and 200 compare),
    Ĥ (the Kozachenko–Leonenko entropy estimate of the gauge-fixed weights) with its dimension d
    in the legend (``entropies``: label -> (Ĥ, d) or None): estimates of another d or N do not
    compare, and side by side they read as if they did. ``examples``: the test examples each
    accuracy counts, whose steps (1/examples) the bins follow."""
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    # One set of bins for all runs, so their histograms compare: on the accuracy's steps where the
    # test set's size is known, else at least 0.1 points wide.
    every = 100 * torch.cat(list(runs.values()))
    edges = (_step_edges(every, 100 / examples, 30) if examples else _edges(every, 30, min_width=0.1))
    for i, (label, acc) in enumerate(runs.items()):
        h = entropies[label]
        text = f"{label}, N = {len(acc)}" + ("" if h is None else f", Ĥ = {h[0]:.0f} (d = {h[1]:,})")
        if len(acc) == 1:  # a method that holds one network: a line, not a one-sample histogram
            ax.axvline(100 * acc.item(), color=f"C{i}", lw=2, label=f"{label}, one network")
        else:  # outlines, not filled bars: overlapping fills blended into a third colour
            ax.hist(100 * acc.double().cpu().numpy(), bins=edges, histtype="step", lw=1.8, color=f"C{i}",
                    weights=np.full(len(acc), 100 / len(acc)), label=text)
    ax.set_xlabel("test accuracy of a sampled network (%)")
    ax.set_ylabel("share of the run's networks (%)")
    _legend(ax, fontsize=8, title="Ĥ: entropy estimate of the gauge-fixed weights (nats),\n"
            "comparable only at equal d and N" if any(v is not None for v in entropies.values()) else None,
            title_fontsize=7)
    ax.set_title(_titled("Accuracy of sampled networks", scope), fontsize=10)
    return save_figure(fig, path)


def ensemble_curve(runs: dict[str, tuple[list[dict], float]], path: Path, scope: str = "") -> str:
    """Accuracy against ensemble size, one colour per run (``{label: (rows of
    analysis.ensembles.accuracy_vs_size, mean single accuracy)}``): mean probability solid,
    majority vote dashed, each with a ± 1 std band over draws; the run's single network dotted."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2) if len(runs) > 1 else (6.5, 3.8))
    every = []
    for c, (run, (rows, single_mean)) in enumerate(runs.items()):
        colour = f"C{c}"
        sizes = [r["size"] for r in rows]
        every += sizes
        for key, label, ls in (("mean_prob", "mean probability", "-"), ("majority", "majority vote", "--")):
            m = torch.tensor([r[f"{key}_mean"] for r in rows]).cpu().numpy() * 100
            # No band where one draw measured no spread (the whole pool): None, NaN here.
            s = np.array([np.nan if r[f"{key}_std"] is None else r[f"{key}_std"] for r in rows]) * 100
            # Several runs: one entry per run (its mean-probability line) and a key of line
            # styles below; three entries per run covered the plot.
            ax.plot(sizes, m, marker="o", ms=3, ls=ls, color=colour if len(runs) > 1 else None,
                    label=(run if ls == "-" else None) if len(runs) > 1 else label)
            ax.fill_between(sizes, m - s, m + s, where=~np.isnan(s), alpha=0.15,
                            color=ax.lines[-1].get_color(),
                            label=None if len(runs) > 1 else f"{label}: ± 1 std over draws")
        ax.axhline(100 * single_mean, color=colour if len(runs) > 1 else "0.5", ls=":", lw=1,
                   label=None if len(runs) > 1 else "single network (mean)")
    if len(runs) > 1:
        for ls, what in (("-", "mean probability"), ("--", "majority vote"), (":", "single network (mean)")):
            ax.plot([], [], color="0.3", ls=ls, label=what)
    _plain_log_x(ax, sorted(set(every)))
    ax.set_xlabel("ensemble size")
    ax.set_ylabel("test accuracy (%)")
    _legend(ax)
    ax.set_title(_titled("Ensembles of sampled networks" + (" (bands: ± 1 std over draws)" if len(runs) > 1
                                                            else ""), scope)
                 + "\n(draws from one pool overlap: the bands understate independent ensembles' spread)",
                 fontsize=9)
    return save_figure(fig, path)


def filter_grid(images: torch.Tensor, title: str, path: Path) -> str:
    """Up to 25 samples of one filter, one shared colour scale (±v, v the 99th percentile of |w|:
    one outlier washed out every other panel), as many rows as there are samples."""
    n = min(25, images.shape[0])
    flat = images[:n].abs().double().flatten()
    v = (flat.quantile(0.99).item() or flat.max().item() or 1.0) if flat.numel() else 1.0
    rows = max(1, math.ceil(n / 5))
    fig, axes = plt.subplots(rows, 5, figsize=(5.6, 1.06 * rows + 0.6), squeeze=False)
    im = None
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            im = ax.imshow(images[i].cpu().numpy(), cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto")
    fig.suptitle(textwrap.fill(title, 70), fontsize=9)
    # Room on the right for the colour bar's label (laid out before it, the label was cut off).
    fig.tight_layout(rect=(0, 0, 0.83, 1))
    if im is not None:  # one shared scale: every panel uses ±v
        fig.colorbar(im, cax=fig.add_axes((0.85, 0.15, 0.025, 0.7)), label="weight", extend="both")
    return save_figure(fig, path, tight=False)


def pca_scatter(scores: torch.Tensor, explained: torch.Tensor, title: str, path: Path) -> str:
    k = scores.shape[1]
    fig, axes = plt.subplots(k, k, figsize=(max(1.7 * k, 3.4), max(1.7 * k, 3.4)), squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == j:
                # a component with no variance (fewer samples than components) is one spike
                ax.hist(scores[:, i].double().cpu().numpy(), bins=_edges(scores[:, i], 25), color="C0")
            else:
                ax.scatter(scores[:, j].cpu().numpy(), scores[:, i].cpu().numpy(), s=2, alpha=0.5)
            if i == k - 1:
                ax.set_xlabel(f"PC{j + 1} ({100 * explained[j]:.0f}%)", fontsize=7)
            if j == 0:
                ax.set_ylabel(f"PC{i + 1} ({100 * explained[i]:.0f}%)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def pca_panels(views: dict, title: str, path: Path) -> str:
    """One row per layer (its name and dimension on the left): principal-component scatter
    plots PC1–PC2, PC1–PC3, PC2–PC3 and the explained-variance ratio of each component.
    ``views`` maps a layer name to an ``analysis.pca.PCA``."""
    pairs = [(0, 1), (0, 2), (1, 2)]
    rows = len(views)
    fig, axes = plt.subplots(rows, 4, figsize=(10, 2.2 * rows + 0.6), squeeze=False)
    for r, (name, p) in enumerate(views.items()):
        k = p.scores.shape[1]
        ev = p.explained.double().cpu().numpy()
        scores = p.scores.double().cpu().numpy()
        for c, (i, j) in enumerate(pairs):
            ax = axes[r, c]
            ax.tick_params(labelsize=6)
            if j >= k:  # fewer samples than components: nothing to plot
                ax.axis("off")
                continue
            ax.scatter(scores[:, i], scores[:, j], s=2, alpha=0.5)
            ax.set_xlabel(f"PC{i + 1} ({100 * ev[i]:.0f}%)", fontsize=7)
            ax.set_ylabel(f"PC{j + 1} ({100 * ev[j]:.0f}%)", fontsize=7)
        axes[r, 0].set_title(f"{name} (D = {p.components.shape[1]})", fontsize=8, loc="left")
        bar = axes[r, 3]
        bar.bar(np.arange(1, k + 1), 100 * ev, color="C1")
        if not ev.any():  # identical networks: an empty panel would look like a failed plot
            bar.text(0.5, 0.5, "no variance:\nthe same in every network", transform=bar.transAxes,
                     ha="center", va="center", fontsize=7)
        bar.set_xticks(np.arange(1, k + 1))
        bar.tick_params(labelsize=6)
        bar.set_xlabel("component", fontsize=7)
        bar.set_ylabel("explained variance (%)", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def paths_figure(t: torch.Tensor, direct: torch.Tensor, interpolated: torch.Tensor | None, path: Path,
                 examples: int | None = None, run: str | None = None) -> str:
    """Seed 001 Fig. 7 with a band: left, every pair (z₁, z₂) in its own colour, its direct path
    dashed and its interpolated path solid (the seed's styles); right, the mean over pairs with a
    shaded band of ± 1 sample standard deviation over pairs. ``interpolated`` None: a method
    without a latent space (MNF, an ensemble), direct paths between sampled networks only."""
    t = t.cpu().numpy()
    direct = direct.double().cpu().numpy()
    pairs = direct.shape[0]
    both = interpolated is not None
    interpolated = interpolated.double().cpu().numpy() if both else direct
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = plt.get_cmap("tab10" if pairs <= 10 else "tab20")
    for i in range(pairs):
        c = colours(i % colours.N)
        if both:
            left.plot(t, 100 * interpolated[i], color=c, ls="-", lw=1.2, label=f"pair {i + 1}")
        left.plot(t, 100 * direct[i], color=c, ls="--", lw=1.2, label=None if both else f"pair {i + 1}")
    left.plot([], [], color="k", ls="--", label="direct G(z₁)t + G(z₂)(1−t)" if both
              else "direct w₁t + w₂(1−t)")
    if both:
        left.plot([], [], color="k", ls="-", label="interpolated G(z₁t + z₂(1−t))")
    left.set_title(f"Each pair of endpoints ({pairs} pairs)", fontsize=10)
    # Below the panel: inside it, the pairs' entries covered their curves.
    left.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    for values, label, ls, colour in ((interpolated, "interpolated", "-", "C0"),
                                      (direct, "direct", "--", "C3"))[0 if both else 1:]:
        m = 100 * values.mean(0)
        s = 100 * values.std(0, ddof=1) if pairs > 1 else 0 * m
        right.plot(t, m, color=colour, ls=ls, lw=2, label=f"{label}: mean over pairs")
        # Clipped to accuracy's range: the band over 100% read as accuracies above it.
        right.fill_between(t, np.clip(m - s, 0, 100), np.clip(m + s, 0, 100), color=colour, alpha=0.2,
                           label=f"{label}: ± 1 std over pairs (clipped to 0-100%)")
    right.set_title("Mean over pairs", fontsize=10)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.set_xlabel("t (t = 1 at G(z₁), t = 0 at G(z₂))" if both else "t (t = 1 at w₁, t = 0 at w₂)")
    left.set_ylabel("test accuracy (%)")
    on = f" on {examples} test images" if examples else ""
    of = f"{run}: " if run else ""
    fig.suptitle(f"{of}accuracy along paths between two sampled networks{on}", fontsize=11)
    return save_figure(fig, path)


def transfer_figure(rows: dict[str, dict[str, torch.Tensor]], eps: float, path: Path) -> str:
    """Seed 002 Fig. 4: for each attack (one panel), the distribution over adversarial examples of
    the fraction of a pool of networks each one fools, one curve per run: the share of examples
    fooling at least x% of the pool (the seed draws a histogram; with a pool of 9 a fixed 5% bin
    drew a comb of spikes twice as tall as a pool of 200's bars for the same distribution).

    ``rows`` maps "run label|attack" to ``{"fraction": (E,), "pool": int}`` of the examples that
    fool the network they were crafted on."""
    attacks = sorted({k.rsplit("|", 1)[1] for k in rows})
    fig, axes = plt.subplots(1, len(attacks), figsize=(5.5 * len(attacks), 3.9), squeeze=False,
                             sharey=True)
    grid = np.linspace(0, 100, 401)
    for ax, attack in zip(axes[0], attacks, strict=True):
        runs = [k for k in rows if k.rsplit("|", 1)[1] == attack]
        for i, key in enumerate(runs):
            f = 100 * rows[key]["fraction"].double().cpu().numpy()
            label = f"{key.rsplit('|', 1)[0]}: {len(f)} examples, pool of {rows[key]['pool']}"
            if len(f):
                ax.plot(grid, [100 * float((f >= x - 1e-9).mean()) for x in grid], drawstyle="steps-post",
                        lw=1.8, color=f"C{i}", label=label)
            else:  # no example fooled its own network: a legend entry, nothing to draw
                ax.plot([], [], color=f"C{i}", label=label)
        ax.set_xlabel("networks of the pool fooled by the example (%)")
        ax.set_title(f"{attack.upper()}, ε = {eps:g}, crafted on one network", fontsize=10)
        ax.set_xlim(0, 100)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("adversarial examples fooling\nat least that share (%)")
    fig.suptitle("Transfer of one network's adversarial examples to the rest of the pool", fontsize=11)
    return save_figure(fig, path)


def ambiguous_grid(images: torch.Tensor, votes: torch.Tensor, labels: torch.Tensor | None,
                   scores: torch.Tensor, score_name: str, path: Path, columns: int = 6, score_help: str = "",
                   title: str | None = None, run: str | None = None, indices: list[int] | None = None) -> str:
    """Seed 002 Fig. 7: inputs, each above a bar chart of how many of the networks vote for each
    class (the true class in green; ``labels`` None for outliers, which have none). ``score_name``:
    a short name of the ranking score for the panel titles ("MI"); ``score_help`` its meaning and
    unit, for the default title (the inputs the networks disagree on most); ``run`` the networks'
    run; ``indices`` each input's index in its set, in its panel's title (the tables list them)."""
    k, c = votes.shape
    columns = max(1, min(columns, k))  # four images: four columns, not six with two empty
    rows = max(1, -(-k // columns))
    height = 2.9 * rows + 1.0  # an image cell about as tall as wide: no gap above its bars
    fig = plt.figure(figsize=(max(1.9 * columns, 6.0), height))
    # The two-line title above the top row's panel titles (it overlapped them with one row).
    # Each input with its bars close below it, the next row's titles clear of those bars' labels.
    outer = fig.add_gridspec(rows, columns, hspace=0.45, wspace=0.35, top=1 - 0.9 / height, bottom=0.06)
    n = int(votes[0].sum()) if k else 0
    for i in range(k):
        r, col = divmod(i, columns)
        cell = outer[r, col].subgridspec(2, 1, height_ratios=[2.2, 1.1], hspace=0.12)
        ax = fig.add_subplot(cell[0])
        img = images[i].double().cpu()
        if img.dim() == 3:  # an image (C, H, W): colour or its first channel
            img = img.permute(1, 2, 0) if img.shape[0] == 3 else img[0]
        elif img.dim() == 1:  # a feature vector: one row
            img = img[None]
        # (a sequence (C, L) is drawn as it is: channels by steps)
        ax.imshow(img.numpy(), cmap=None if img.dim() == 3 else "gray",
                  aspect="equal" if images[i].dim() == 3 else "auto")
        ax.set_xticks([])
        ax.set_yticks([])
        # Ties: the lower class first, as the report's table (topk's order was unspecified).
        top2 = torch.sort(-votes[i], stable=True).indices[:min(2, c)]
        head = (("" if indices is None else f"#{indices[i]} ")
                + ("" if labels is None else f"label {int(labels[i])}, "))
        ax.set_title(f"{head}{score_name} {scores[i]:.3f}\nvotes "
                     + ", ".join(f"{int(cl)}: {int(votes[i][cl])}" for cl in top2 if votes[i][cl] > 0),
                     fontsize=7)  # a runner-up of no votes is no runner-up ("1: 50, 0: 0")
        bar = fig.add_subplot(cell[1])
        colours = ["C2" if labels is not None and j == int(labels[i]) else "C0" for j in range(c)]
        bar.bar(np.arange(c), votes[i].cpu().numpy(), color=colours)
        bar.set_xticks(np.arange(c))
        bar.tick_params(labelsize=7)
        # Votes are whole numbers (ticks at 2.5 read as half a vote).
        bar.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=3, integer=True))
        bar.set_xlabel("class", fontsize=7)
        if col == 0:
            bar.set_ylabel("votes", fontsize=7)
    of = f" of {run}" if run else ""
    fig.suptitle(title or f"Test images the {n} sampled networks{of} disagree on most (ranked by {score_name}"
                 f"{', ' + score_help if score_help else ''});\nbars: votes per class, true class green",
                 fontsize=10)
    return save_figure(fig, path, tight=False)


_STYLES = ("-", "--", ":", "-.")


def adversarial_figure(eps: list[float], curves: dict[str, dict[str, list[float | None]]], path: Path,
                       scope: str = "") -> str:
    """Success of targeted attacks against ε: ``curves`` run → (curve → one value per ε, None
    where nothing was attacked). One colour per run, one line style per curve (the same curve
    of every run alike), the legend beside the axes: with several runs the default colour cycle
    repeated and the legend covered the data."""
    several = len(curves) > 1
    fig, ax = plt.subplots(figsize=(10, 4.5 if several else 3.8))
    cmap = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")
    drawn: dict[str, str] = {}  # curve name -> its line style, for the key
    for i, (run, named) in enumerate(curves.items()):
        labelled = False
        for j, (name, values) in enumerate(named.items()):
            if any(v is None for v in values):  # nothing attacked: no curve, not a line at 0%
                continue
            # Several runs: one entry per run (its colour) and a key of the curves' line styles;
            # an entry per run and curve made a legend taller than the plot.
            label = (None if labelled else run) if several else (f"{run}: {name}" if run else name)
            ax.plot(eps, [100 * v for v in values], marker="o", ms=3, color=cmap(i % cmap.N),
                    ls=_STYLES[j % len(_STYLES)], label=label)
            labelled = True
            drawn.setdefault(name, _STYLES[j % len(_STYLES)])
    if several:
        for name, ls in drawn.items():
            ax.plot([], [], color="0.3", ls=ls, label=name)
    ax.set_xlabel("ε (fraction of the pixel range)")
    ax.set_ylabel("attacks that reach their target class (%)")
    if drawn:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no example was attacked (none classified right by its network)",
                ha="center", va="center", transform=ax.transAxes)
    ax.set_title(_titled("Targeted adversarial examples", textwrap.fill(scope, 90)), fontsize=10)
    return save_figure(fig, path)


def entropy_cdf(inliers: dict[str, torch.Tensor], outliers: dict[str, torch.Tensor], path: Path,
                scope: str = "") -> str:
    """Empirical CDFs of predictive entropy: inliers dashed, outliers solid (seed 002 Fig. 3)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    # The i-th inlier and the i-th outlier curve (one model) share a colour.
    for style, group in (("--", inliers), ("-", outliers)):
        for i, (label, h) in enumerate(group.items()):
            v = h.sort().values.cpu().numpy()
            ax.plot(v, (torch.arange(1, len(v) + 1) / len(v)).cpu().numpy(), ls=style, color=f"C{i}",
                    label=label)
    ax.set_xlabel("predictive entropy (nats)")
    ax.set_ylabel("fraction of examples ≤ entropy")
    _legend(ax, fontsize=8, title="dashed: in-distribution, solid: outliers", title_fontsize=7)
    ax.set_title(_titled("Out-of-distribution detection", scope), fontsize=10)
    return save_figure(fig, path)


def detection_figure(rows: list[dict], path: Path, scope: str = "") -> str:
    """Detection rate of adversarial examples vs ensemble size, one line per run and attack."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    lines: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        lines.setdefault(f"{r['run']}, {r['attack'].upper()}", []).append(
            (r["size"], r["detection_rate_at_5_fpr"]))
    runs = list(dict.fromkeys(r["run"] for r in rows))
    cmap = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    for label, pts in lines.items():
        pts.sort()
        run, attack = label.rsplit(", ", 1)  # one colour per run, the attack by its line style
        # A marker per attack too: a run of one ensemble size is two points, no line to tell apart.
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o" if attack == "FGSM" else "s",
                ms=4, color=cmap(runs.index(run) % cmap.N), ls="-" if attack == "FGSM" else "--", label=label)
    _plain_log_x(ax, sorted({r["size"] for r in rows}))
    fresh = {bool(r.get("fresh", True)) for r in rows}
    scored = ("a fresh one of equal size" if fresh == {True} else "itself (a fixed set)" if fresh == {False}
              else "a fresh one of equal size; a fixed set on itself")
    ax.set_xlabel(f"ensemble size N (attacked; scored on {scored})")
    ax.set_ylabel("detected at 5% false positives (%)")
    if lines:
        _legend(ax)
    else:
        ax.text(0.5, 0.5, "no ensemble size applies to these runs", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title(_titled("Adversarial detection by predictive entropy", scope), fontsize=10)
    return save_figure(fig, path)


def reliability_diagram(curves: dict[str, dict[str, torch.Tensor]], path: Path, scope: str = "") -> str:
    """Reliability diagram: accuracy vs mean confidence of each non-empty equal-width bin (top;
    hollow markers for bins of fewer than FEW_IN_BIN inputs, whose accuracy is mostly noise), and
    the number of inputs per bin (bottom, log scale); one colour per curve.

    ``curves`` maps a label to ``evaluation.calibration.reliability_bins`` output (1-D tensors).
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    top.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="perfect calibration")
    said = False  # the hollow markers' legend entry, once
    for i, (label, b) in enumerate(curves.items()):
        count = b["count"].double()
        bins = len(count)
        keep = (count > 0).cpu().numpy()
        conf, acc = b["confidence"].double().cpu().numpy(), b["accuracy"].double().cpu().numpy()
        top.plot(conf[keep], acc[keep], marker="o", ms=4, color=f"C{i}", label=label)
        few = keep & (count.cpu().numpy() < FEW_IN_BIN)
        top.plot(conf[few], acc[few], ls="none", marker="o", ms=6, mfc="white", color=f"C{i}",
                 label=None if said or not few.any() else f"hollow: a bin of fewer than {FEW_IN_BIN} inputs")
        said = said or bool(few.any())
        edges = np.linspace(0, 1, bins + 1)
        bottom.stairs(count.cpu().numpy(), edges, color=f"C{i}", lw=1.5, label=label)
    top.set_ylabel("accuracy in bin")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    _legend(top, loc="upper left")
    top.set_title(_titled("Reliability diagram (top-label confidence, equal-width bins)", scope), fontsize=10)
    bottom.set_yscale("log")
    bottom.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bottom.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    bottom.set_xlabel("confidence (max probability)")
    bottom.set_ylabel("inputs in bin")
    return save_figure(fig, path)
