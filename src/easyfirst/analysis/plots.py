"""PNG plots of scores, training dynamics, agreement, robustness, pacing and learning curves.

Every function draws on its own ``matplotlib.figure.Figure`` with the Agg canvas (no
``pyplot`` state, no display needed), writes one PNG and returns its path. The numbers come
from the functional modules (``agreement``, ``robustness``, ``easyfirst.scoring.functional``);
nothing is computed here that a test could not check without drawing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from easyfirst.analysis.robustness import RobustnessCurve
from easyfirst.atomic import atomic_write
from easyfirst.pacing import PacingFunction
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores

DPI = 100


def _figure(width: float, height: float, *,
            layout: Literal["constrained"] | None = "constrained") -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    """The figure as a PNG, written atomically (a kill never leaves half a PNG)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def score_histograms(
    scores: Scores,
    path: str | Path,
    *,
    targets: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    bins: int = 30,
) -> Path:
    """Histogram of the score values per class (small multiples sharing the x axis).

    Args:
        scores: (N,) scores.
        path: PNG to write.
        targets: (N,) class ids; without them one histogram of all samples is drawn.
        class_names: label of each class id.
        bins: number of bins (fewer when the score has fewer distinct values).
    """
    v = scores.values
    finite = np.isfinite(v)
    edges, xscale, yscale = histogram_bins(v[finite], bins)
    if targets is None:
        groups: list[tuple[str, np.ndarray]] = [("all samples", v[finite])]
    else:
        t = np.asarray(targets)
        classes = np.unique(t)
        groups = [((class_names[c] if class_names is not None and c < len(class_names)
                    else f"class {c}"), v[finite & (t == c)]) for c in classes]
    ncol = min(5, len(groups))
    nrow = math.ceil(len(groups) / ncol)
    width, height = 2.4 * ncol + 0.6, 1.8 * nrow + 0.8
    # Fixed margins (in inches) instead of constrained layout: the report draws one of these
    # per scorer, and constrained layout doubled their drawing time.
    fig = _figure(width, height, layout=None)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.6 / height,
                        top=1 - 0.55 / height, wspace=0.3, hspace=0.45)
    axes = fig.subplots(nrow, ncol, sharex=True, squeeze=False)
    direction = "higher = easier" if scores.higher_is_easier else "lower = easier"
    for ax, (name, vals) in zip(axes.flat, groups, strict=False):
        ax.hist(vals, bins=edges, color="#4477aa")
        ax.set_xscale(xscale)
        ax.set_yscale(yscale)
        if yscale == "linear":
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 samples
        ax.set_title(f"{name} (n={vals.size})", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(f"{scores.scorer} scores per class ({direction})", fontsize=11)
    fig.supxlabel(scores.scorer + (" (log scale)" if xscale == "log" else ""), fontsize=9)
    fig.supylabel("samples" + (" (log scale)" if yscale == "log" else ""), fontsize=9)
    return _save(fig, path)


PILED = 0.5  # one equal-width bin holding this share of the samples: the values pile up


def histogram_bins(values: np.ndarray, bins: int = 30) -> tuple[np.ndarray, str, str]:
    """Bin edges and the x and y axis scales (``linear`` or ``log``) of a readable histogram of
    finite ``values``: one bar per value when there are at most ``bins`` distinct ones (CumAcc);
    else equal-width bins, unless half the samples would pile up in one bin (CE loss: most
    near 0, a long tail): then log-spaced bins on a log x axis for positive values, or a log
    count axis otherwise, so that the tail stays visible."""
    uniq = np.unique(values)
    lo, hi = (float(uniq[0]), float(uniq[-1])) if uniq.size else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    if 1 < uniq.size <= bins:
        mids = (uniq[1:] + uniq[:-1]) / 2
        gap = float(np.min(np.diff(uniq))) / 2
        return np.concatenate([[uniq[0] - gap], mids, [uniq[-1] + gap]]), "linear", "linear"
    edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    if not values.size or counts.max() < PILED * values.size:
        return edges, "linear", "linear"
    if lo > 0:
        return np.geomspace(lo, hi, bins + 1), "log", "linear"
    return edges, "linear", "log"


def data_map(
    confidence: np.ndarray,
    variability: np.ndarray,
    correct: np.ndarray,
    path: str | Path,
    *,
    title: str = "Data map",
) -> Path:
    """Confidence (y) against variability (x), coloured by correctness (Swayamdipta 2020).

    Args:
        confidence, variability: (N,) mean and std over epochs of the true-class probability.
        correct: (N,) bool, e.g. ``TrainingDynamics.eval_correct``.
        path: PNG to write.
    """
    return _data_map(confidence, variability, correct, path, title=title, mark=[])[0]


def _data_map(confidence: np.ndarray, variability: np.ndarray, correct: np.ndarray,
              path: str | Path, *, title: str, mark: Sequence[int]) -> tuple[Path, np.ndarray]:
    """``data_map`` with the ``mark`` samples ringed, and their ``(len(mark), 2)`` pixel
    positions ``(x, y)`` in the PNG, from its top-left corner."""
    conf, var = np.asarray(confidence, float), np.asarray(variability, float)
    ok = np.asarray(correct, bool)
    fig = _figure(6.0, 4.8)
    ax = fig.add_subplot()
    for mask, colour, label in ((ok, "#228833", "correct"), (~ok, "#cc3311", "incorrect")):
        ax.scatter(var[mask], conf[mask], s=6, alpha=0.5, color=colour,
                   label=f"{label} ({int(mask.sum())})", linewidths=0)
    idx = np.asarray(mark, dtype=np.int64)
    if idx.size:
        ax.scatter(var[idx], conf[idx], s=40, facecolors="none", edgecolors="black",
                   linewidths=0.9, label=f"in the sample tables ({idx.size})")
    ax.set_xlabel("variability (std of true-class probability)")
    ax.set_ylabel("confidence (mean true-class probability)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    ax.legend(loc="lower right", fontsize=8, markerscale=2)
    ax.set_title(title, fontsize=11)
    out = _save(fig, path)  # the layout is final once drawn: positions after saving
    xy = ax.transData.transform(np.column_stack([var[idx], conf[idx]]).reshape(-1, 2))
    return out, np.column_stack([xy[:, 0], fig.bbox.height - xy[:, 1]])


def data_map_from_dynamics(d: TrainingDynamics, path: str | Path, *, title: str = "") -> Path:
    """``data_map`` of one run's dynamics, coloured by ``eval_correct`` (else last epoch)."""
    return marked_data_map(d, path, [], title=title)[0]


def marked_data_map(d: TrainingDynamics | Sequence[TrainingDynamics], path: str | Path,
                    mark: Sequence[int], *, title: str = "") -> tuple[Path, np.ndarray]:
    """``data_map_from_dynamics`` with samples ``mark`` ringed; also their pixel positions
    ``(len(mark), 2)`` as ``(x, y)`` from the PNG's top-left corner (for HTML links).

    Several runs (the seeds): confidence and variability are the means over the runs, and a
    sample counts as correct when it is in most of them."""
    from easyfirst.scoring import functional as F

    runs = [d] if isinstance(d, TrainingDynamics) else list(d)
    conf = np.mean([F.confidence(r).numpy() for r in runs], axis=0)
    var = np.mean([F.variability(r).numpy() for r in runs], axis=0)
    correct = np.mean([np.asarray((r.eval_correct if r.eval_correct is not None
                                   else r.correct_now).numpy(), float) for r in runs], axis=0)
    seeds = (f"seed {runs[0].meta.get('seed', '?')}" if len(runs) == 1
             else f"mean of {len(runs)} seeds")
    return _data_map(conf, var, correct > 0.5, path, mark=mark,
                     title=title or f"Data map ({seeds}, {runs[0].epochs} epochs)")


def content_frames(spec: np.ndarray) -> slice:
    """The time frames (last axis) of a spectrogram ``(M, L)`` that hold the clip: the runs
    of frames equal to the first or the last one (the padding of a shorter clip, e.g. the
    log-Mel of zeros) are left out; all of it when every frame is the same."""
    a = np.asarray(spec, dtype=np.float64)
    tol = 1e-6 * (float(np.nanmax(a) - np.nanmin(a)) + 1.0) if a.size else 0.0
    same_as_last = np.all(np.isclose(a, a[:, -1:], atol=tol, rtol=0), axis=0)
    same_as_first = np.all(np.isclose(a, a[:, :1], atol=tol, rtol=0), axis=0)
    if same_as_last.all():
        return slice(0, a.shape[1])
    tail, head = int(np.argmin(same_as_last[::-1])), int(np.argmin(same_as_first))
    return slice(head if head >= 2 else 0, a.shape[1] - (tail if tail >= 2 else 0))


def thumbnail(array: np.ndarray, path: str | Path, *, spectrogram: bool) -> Path:
    """A small PNG of one sample: a log-Mel ``(1, M, L)`` (low frequencies at the bottom,
    magma; cropped to the clip's frames, ``content_frames``) or an image ``(C, H, W)``,
    scaled to its own range and, when its shorter side is under 64 pixels, enlarged by whole
    pixels to at least 64. One channel is stored as 64 levels of a palette (a few KB)."""
    from matplotlib import colormaps
    from PIL import Image as PILImage

    a = np.asarray(array, dtype=np.float64)
    a = a.reshape(a.shape[-2:]) if a.ndim == 2 or a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    a = a[:, content_frames(a)] if spectrogram and a.ndim == 2 and a.shape[1] > 1 else a
    lo, hi = np.nanmin(a), np.nanmax(a)
    a = np.nan_to_num((a - lo) / (hi - lo) if hi > lo else a * 0)
    a = a[::-1] if spectrogram else a
    factor = max(1, math.ceil(64 / min(a.shape[:2])))
    a = np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)
    if a.ndim == 3:
        img = PILImage.fromarray(np.round(a[..., :3] * 255).astype(np.uint8))
    else:
        img = PILImage.fromarray(np.round(a * 63).astype(np.uint8))  # L, then a palette
        lut = colormaps["magma" if spectrogram else "gray"](np.linspace(0, 1, 64))[:, :3]
        img.putpalette(np.round(lut * 255).astype(np.uint8).ravel().tolist())
    return atomic_write(path, lambda tmp: img.save(tmp, format="png", optimize=True))


def agreement_heatmap(
    names: Sequence[str], matrix: np.ndarray, path: str | Path, *, title: str = "Spearman"
) -> Path:
    """(K, K) correlation matrix as an annotated heatmap on [-1, 1]."""
    m = np.asarray(matrix, float)
    k = len(names)
    fig = _figure(1.0 + 0.9 * k + 1.2, 0.8 + 0.9 * k)
    ax = fig.add_subplot()
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k), list(names), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), list(names), fontsize=8)
    for i in range(k):
        for j in range(k):
            txt = "-" if not math.isfinite(m[i, j]) else f"{m[i, j]:.2f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                    color="white" if math.isfinite(m[i, j]) and abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=11)
    return _save(fig, path)


def robustness_plot(
    curves: Mapping[str, RobustnessCurve],
    path: str | Path,
    *,
    target: float = 0.9,
) -> Path:
    """Mean Spearman of disjoint k-seed ensembles against k, with the Spearman-Brown fit.

    Measured points (± std) up to S // 2; the dashed lines extrapolate to the largest
    ensemble size needed for ``target`` (at least 4, at most 64).
    """
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    needs = [c.seeds_for(target) for c in curves.values()]
    # One x range for all: the measured sizes and the largest finite need, capped at 64.
    last = int(min(64, max([4, *(len(c.ks) for c in curves.values()),
                            *(n for n in needs if math.isfinite(n))])))
    for i, ((name, c), need) in enumerate(zip(curves.items(), needs, strict=True)):
        colour = f"C{i}"
        ok = np.isfinite(c.spearman_mean)
        ax.errorbar(c.ks[ok], c.spearman_mean[ok], yerr=c.spearman_std[ok], fmt="o",
                    color=colour, capsize=3, label=f"{name} (measured)")
        if math.isfinite(c.r1):
            kk = np.linspace(1, last, 200)
            ax.plot(kk, [c.predicted(k) for k in kk], "--", color=colour, alpha=0.8,
                    label=f"{name} Spearman-Brown, r1={c.r1:.3f}, "
                    f"{need} seeds for {target:g}")
    ax.axhline(target, color="grey", lw=0.8, ls=":")
    ax.set_xlim(0.5, last + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("ensemble size k (seeds per ensemble)")
    ax.set_ylabel("Spearman between disjoint ensembles")
    ax.set_title("Robustness of seed ensembles", fontsize=11)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def pacing_curves(
    pacings: Sequence[PacingFunction], path: str | Path, *, epochs: int | None = None
) -> Path:
    """Fraction of the data in use against training progress, one line per pacing.

    With ``epochs`` the per-epoch pool fractions (``size_at(e, E, N) / N``) are drawn as
    steps as well.
    """
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    t = np.linspace(0, 1, 401)
    for i, pf in enumerate(pacings):
        label = f"{pf.name} (b={pf.start_fraction:g}, a={pf.full_at:g})"
        ax.plot(t, [pf.fraction(float(x)) for x in t], color=f"C{i % 10}", label=label)
        if epochs:
            n = 10_000
            fr = [pf.size_at(e, epochs, n) / n for e in range(epochs)]
            ax.step(np.arange(epochs + 1) / epochs, fr + fr[-1:], where="post",
                    color=f"C{i % 10}", alpha=0.35, lw=1)
    ax.set_xlabel("training progress")
    ax.set_ylabel("fraction of training data in the pool")
    ax.set_ylim(0, 1.05)
    ax.set_title("Pacing functions", fontsize=11)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def learning_curves(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | Path,
    *,
    num_samples: int | None = None,
) -> Path:
    """Dev (or train) accuracy per epoch (top) and the pool size (bottom), one line per run.

    Args:
        runs: run name -> per-epoch metric rows (``metrics.json``'s ``metrics``).
        path: PNG to write.
        num_samples: N, to draw the pool as a fraction of the training data.
    """
    fig = _figure(9.0, 5.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    key = "dev_accuracy" if all("dev_accuracy" in r[0] for r in runs.values() if r) \
        else "train_accuracy"
    for i, (name, rows) in enumerate(runs.items()):
        if not rows:
            continue
        ep = [r["epoch"] for r in rows]
        top.plot(ep, [r.get(key, np.nan) for r in rows], marker=".", color=f"C{i % 10}",
                 label=name)
        # epoch e (1-based) trains on its pool during (e-1, e]; accuracy is measured at e.
        pool = np.array([r.get("pool_size", np.nan) for r in rows], float)
        pool = pool / num_samples if num_samples else pool
        bottom.step([ep[0] - 1, *ep], [*pool, pool[-1]], where="post", color=f"C{i % 10}")
    top.set_ylabel(key.replace("_", " "))
    top.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    top.set_title("Learning curves and pool size", fontsize=11)
    bottom.set_ylabel("pool (fraction of N)" if num_samples else "pool size (samples)")
    bottom.set_xlabel("epoch (from 1)")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)
