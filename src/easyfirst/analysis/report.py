"""``easyfirst report``: one self-contained HTML page (and Markdown) of what a folder holds.

The folder may be an ``easyfirst score`` output (``run.json`` + ``scores/``), an
``easyfirst train`` output (``metrics.json`` + ``predictions.npz``), a folder of such runs, or
an ``easyfirst reproduce`` output (``reproduce.json``, ``score/``, ``runs/``). The report
shows what is there, a score or reproduce folder's answer first (``glance``: a summary with
the run's settings, accuracies, seed agreement and label issues, then the contents):

* scores: summary per scorer, histograms per class, agreement (Spearman and Kendall), seed
  robustness with the seeds needed for a target correlation, ties per ensemble size, a
  data map (the means over the seeds), and per scorer the hardest and easiest samples and the likely
  label issues to look at and listen to (``gallery``; its points on the data map link there);
* training runs: the run table, pacing curves, learning curves with pool size, and (with
  several run types) the paper's findings tested (``findings``: verdicts with intervals and
  p-values), each cell against the baseline of the same seeds, the paper's tables and late
  fusion with paired intervals.

Files: ``OUT/report.html`` (PNGs embedded as base64 data URIs), ``OUT/report.md`` and
``OUT/report_files/*.png`` (the Markdown links these), with ``OUT`` = the folder by default;
the samples' thumbnails and clips are in ``OUT/report_samples/``, linked by both.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.analysis import blocks, gallery, plots
from easyfirst.analysis.agreement import agreement
from easyfirst.analysis.blocks import Image, Section
from easyfirst.analysis.findings import cell_table, findings_table, paper_findings, score_stability
from easyfirst.analysis.formats import format_html, format_markdown
from easyfirst.analysis.glance import Glance, anchor, summary_section
from easyfirst.analysis.label_issues import LabelIssues, label_issues_or_why, noise_table
from easyfirst.analysis.per_sample import load_runs, main_scorer, score_folders, seed_dirs
from easyfirst.analysis.results import (
    RunRecord,
    Table,
    best_runs,
    best_vs_baselines,
    find_runs,
    fusion_results,
    metric_name,
    run_folders,
    runs_table,
    table_by_ordering_pacing,
)
from easyfirst.analysis.robustness import RobustnessCurve, robustness_curve
from easyfirst.analysis.sample_facts import fact_tables
from easyfirst.atomic import PARTIAL
from easyfirst.errors import InputError, MissingFileError
from easyfirst.pacing import PacingFunction
from easyfirst.run_folder import (
    ScoreSummary,
    is_finished,
    read_json,
    read_sample_meta,
    read_summary,
)
from easyfirst.scores import Scores

REPRODUCE_FILE = "reproduce.json"
FILES_DIR = "report_files"


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}g}"


def _glance_of_scores(g: Glance, folder: Path, ensembles: dict[str, Scores],
                      summary: ScoreSummary, issues: LabelIssues | str,
                      curves: dict[str, RobustnessCurve]) -> None:
    """Fill ``g`` with what one score folder says (its dataset, settings, accuracies, the
    main scorer's seed agreement, the likely label issues)."""
    saved = read_json(folder / "run.json", what="the runs' settings") \
        if (folder / "run.json").is_file() else {}
    config = saved.get("config") or saved.get("settings") or {}
    g.config = {**config, **g.config}  # a reproduce plan's settings win
    g.dataset = g.dataset or config.get("dataset") or summary.get("dataset") \
        or saved.get("dataset")
    g.num_train = next(iter(ensembles.values())).num_samples if ensembles else None
    g.metric = "test mAP" if "test_map" in summary else "test accuracy"
    g.accuracy = {str(k): float(v) for k, v in  # no test split: no accuracy
                  (summary.get("test_map", summary.get("test_accuracy")) or {}).items()
                  if v is not None}
    g.scorer = main_scorer(folder)
    curve = curves.get(g.scorer or "")
    g.seeds_scored = len(curve.ks) if curve is not None else len(seed_dirs(folder))
    if curve is not None:
        g.seed_spearman, g.seeds_for = float(curve.spearman_mean[0]), curve.seeds_for(g.target)
    g.issues = (f"not shown: {issues}" if isinstance(issues, str) else
                f"{len(issues)} flagged, each listed under "
                "\"Samples to look at and listen to\"")


def score_section(
    folder: Path, files: Path, *, target: float, class_names: Sequence[str] | None, tag: str,
    glance: Glance | None = None,
) -> list[Section]:
    """Sections for one ``easyfirst score`` folder; fills ``glance`` when given."""
    ensembles = {p.stem: Scores.load(p, allow_nan=True)
                 for p in sorted((folder / "scores").glob("*.csv"))}
    seeds = seed_dirs(folder)
    dyns = load_runs(folder)
    dyn = dyns[0] if dyns else None
    targets = dyn.targets.numpy() if dyn is not None and dyn.targets is not None else None
    targets = None if targets is not None and targets.ndim == 2 else targets  # per class: 1-D
    summary = read_summary(folder)
    class_names = class_names or summary.get("class_names")

    overview = Section(f"Scores ({folder.name})")
    rows = []
    for name, s in ensembles.items():
        sm = s.summary()
        q = sm["quantiles"]
        tie = f"{sm['largest_tie']} at {_fmt(sm['largest_tie_value'])}, ordered by " \
            f"{sm['ties']}" if sm["largest_tie"] > 1 else "none"
        rows.append([name, sm["direction"].replace("_", " "), str(sm["N"]),
                     str(len(s.meta.get("seeds") or [])), str(sm["num_unique"]), tie,
                     _fmt(sm["min"]), _fmt(q.get("0.5", math.nan)), _fmt(sm["max"])])
    overview.blocks.append(Table(
        "Seed-ensemble scores", ["scorer", "direction", "N", "seeds", "unique values",
                                 "largest tie", "min", "median", "max"], rows,
        note=f"dataset fingerprint {next(iter(ensembles.values())).fingerprint}"))
    metric = "test mAP" if "test_map" in summary else "test accuracy"
    accs = summary.get("test_map", summary.get("test_accuracy")) or {}
    if accs:
        overview.blocks.append(Table(
            "Scoring runs", ["seed", metric],
            [[str(k), _fmt(v)] for k, v in accs.items()]))
    overview.blocks += fact_tables(folder, ensembles, seeds)
    meta = read_sample_meta(folder)
    issues = label_issues_or_why(dyns, meta.get("train.targets", targets),
                                 num_classes=len(class_names or []) or None)
    if "train.label_flipped" in meta:
        overview.blocks.append(noise_table(
            ensembles, np.asarray(meta["train.label_flipped"], dtype=bool),
            None if isinstance(issues, str) else issues))
    for name, s in ensembles.items():
        overview.blocks.append(Image(
            plots.score_histograms(s, files / f"{tag}hist_{name}.png", targets=targets,
                                   class_names=class_names),
            f"{name}: ensemble scores per class"))
    out = [overview]
    out += _agreement_sections(ensembles, files, tag)
    robust, curves = _robustness_sections(ensembles, seeds, files, tag, target)
    out += robust
    if glance is not None:
        _glance_of_scores(glance, folder, ensembles, summary, issues, curves)
    samples, links = gallery.sample_tables(folder, files.parent, ensembles, dyns, issues,
                                           class_names=class_names, tag=tag)
    if dyn is not None:
        sec = Section("Data map")
        sec.blocks.append(gallery.linked_data_map(dyns, files / f"{tag}datamap.png", links,
                                                  "Confidence against variability of the "
                                                  "true-class probability (Swayamdipta et al. "
                                                  "2020), each the mean over the seeds, "
                                                  "coloured by eval-pass correctness in most "
                                                  "seeds")
                          if dyn.prob_sum is not None else "The runs recorded the core outcomes "
                          "only (--outcomes core), so there is no data map.")
        out.append(sec)
    out.append(Section("Samples to look at and listen to", list(samples)))
    return out


def _agreement_sections(ensembles: dict[str, Scores], files: Path, tag: str) -> list[Section]:
    out: list[Section] = []
    if len(ensembles) >= 2:
        sec = Section("Agreement between scoring functions")
        ag = agreement(ensembles)
        names = list(ag["names"])  # type: ignore[call-overload]
        for method in ("spearman", "kendall"):
            m = np.asarray(ag[method])
            sec.blocks.append(Image(
                plots.agreement_heatmap(names, m, files / f"{tag}agreement_{method}.png",
                                        title=f"{method.capitalize()} between scorers"),
                f"{method.capitalize()} rank correlation of the seed-ensemble scores"))
            sec.blocks.append(Table(
                f"{method.capitalize()} matrix", [""] + names,
                [[n] + [_fmt(x, 3) for x in m[i]] for i, n in enumerate(names)]))
        sec.blocks.append("Scores are compared as easiness (sign flipped for lower-is-easier "
                          "scorers), so a positive value means the scorers agree.")
        out.append(sec)
    return out


def _robustness_sections(ensembles: dict[str, Scores], seeds: list[Path], files: Path,
                         tag: str, target: float
                         ) -> tuple[list[Section], dict[str, RobustnessCurve]]:
    """The robustness section (none below two seeds) and the curves per scorer."""
    out: list[Section] = []
    curves: dict[str, RobustnessCurve] = {}
    for name in ensembles:
        members = [Scores.load(sd / "scores" / f"{name}.csv", allow_nan=True) for sd in seeds
                   if (sd / "scores" / f"{name}.csv").is_file()]
        if len(members) >= 2:
            curves[name] = robustness_curve(members)
    if curves:
        sec = Section("Robustness of seed ensembles")
        sec.blocks.append(Image(plots.robustness_plot(curves, files / f"{tag}robustness.png",
                                                      target=target),
                                "Mean Spearman between disjoint k-seed ensembles"))
        rows, left = [], sorted({int(r["k"]) for c in curves.values() for r in c.rows()
                                 if not r["num_pairs"]})
        for name, c in curves.items():
            for r in c.rows():
                if r["num_pairs"]:
                    rows.append([name, str(r["k"]), _fmt(r["spearman_mean"], 4),
                                 _fmt(r["spearman_std"], 2), str(r["num_pairs"]),
                                 f"{r['num_unique']:.0f}", f"{r['largest_tie']:.0f}"])
        sec.blocks.append(Table(
            "Agreement and ties by ensemble size",
            ["scorer", "k", "mean Spearman", "std", "pairs", "unique values", "largest tie"],
            rows, note="pairs of disjoint k-seed ensembles exist for k <= S/2"
            + (f" (left out: k = {', '.join(map(str, left))}, no pair of disjoint ensembles "
               f"among {len(seeds)} seeds)" if left else "")
            + "; unique values and largest tie are means over the k-seed ensembles formed, "
            "rounded."))
        sec.blocks.append(Table(
            f"Seeds needed for Spearman {target:g} between two independent ensembles",
            ["scorer", "seeds scored", "fitted r1", f"seeds for {target:g}",
             f"predicted at {len(seeds)} seeds"],
            [[n, str(len(c.ks)), _fmt(c.r1, 4), str(c.seeds_for(target)),
              _fmt(c.predicted(len(c.ks)), 4)] for n, c in curves.items()],
            note=next(iter(curves.values())).method))
        out.append(sec)
    return out, curves


def runs_sections(
    records: Sequence[RunRecord], files: Path, *, best_k: int, plan: dict[str, Any] | None,
    stability: dict[str, float] | None = None, glance: Glance | None = None,
) -> list[Section]:
    """Sections for finished training runs (one run, a folder of runs, or a reproduce grid);
    ``stability``: r1 per scorer, for the finding on seed-stable scorers; ``glance`` gets the
    findings' verdict counts."""
    out: list[Section] = []
    kinds = {r.kind for r in records}
    if len(records) >= 2 and len(kinds) >= 2:
        sec = Section("Results (Rampp et al. 2024 protocol)")
        order_by = ((plan or {}).get("plan", {}).get("order_by") or [None])[0]
        found = paper_findings(records, best_k=best_k, stability=stability, order_by=order_by)
        if found:
            sec.blocks.append(findings_table(found, metric=metric_name(records)))
            if glance is not None:
                glance.verdicts.update(f.verdict for f in found)
        if "baseline" in kinds:
            sec.blocks.append(cell_table(records))
        sec.blocks.append(table_by_ordering_pacing(records))
        if "baseline" in kinds:
            sec.blocks.append(best_vs_baselines(records, best_k)[0])
        ftable, frows = fusion_results(records, k=best_k)
        if frows:
            sec.blocks.append(ftable)
        out.append(sec)

    sec = Section("Training runs")
    sec.blocks.append(runs_table(records))
    n = max((m.get("pool_size", 0) for r in records for m in r.metrics), default=0) or None
    pacings: dict[tuple[str, float, float], PacingFunction] = {}
    for r in records:
        c = r.curriculum
        if r.kind != "baseline" and c.get("pacing"):
            pf = PacingFunction(c["pacing"], start_fraction=c["start_fraction"],
                                full_at=c["full_at"])
            pacings.setdefault((pf.name, pf.start_fraction, pf.full_at), pf)
    epochs = max((len(r.metrics) for r in records), default=0) or None
    if pacings:
        sec.blocks.append(Image(plots.pacing_curves(list(pacings.values()),
                                                    files / "pacing.png", epochs=epochs),
                                "Pacing functions used (lines: continuous fraction; steps: "
                                "the pool per epoch)"))
    if len(records) <= 8:
        shown = list(records)
        cap = "Learning curves with pool size"
    else:
        shown = [best_runs([r for r in records if r.label == lab], 1)[0]
                 for lab in dict.fromkeys(r.label for r in records)]
        cap = "Learning curves with pool size: the best run (on dev) of each type"
    sec.blocks.append(Image(plots.learning_curves({r.name: r.metrics for r in shown},
                                                  files / "learning_curves.png", num_samples=n),
                            cap))
    out.append(sec)
    return out


def collect_sections(
    root: Path, files: Path, *, target: float = 0.9, best_k: int = 3
) -> tuple[str, list[Section]]:
    """Title and sections for ``root``; raises ``ValueError`` when there is nothing to show."""
    plan = read_json(root / REPRODUCE_FILE, what="the reproduce plan") \
        if (root / REPRODUCE_FILE).is_file() else None
    class_names = (plan or {}).get("class_names")
    sections: list[Section] = []
    glance = Glance(target=target)
    if plan is not None:
        best_k = int(plan.get("plan", {}).get("best_k", best_k))
        s = plan.get("config") or plan.get("settings") or {}  # settings: before run.json v2
        glance.config, glance.dataset = dict(s), s.get("dataset")
        p = plan.get("plan", {})
        intro = Section("Protocol")
        intro.blocks.append(Table("Settings", ["setting", "value"], [
            [k, json.dumps(v) if not isinstance(v, str) else v]
            for k, v in [("dataset", s.get("dataset")), ("model", s.get("model")),
                         ("epochs", s.get("epochs")), ("budget", p.get("budget")),
                         ("scorers", p.get("scorers")), ("scoring seeds", p.get("score_seeds")),
                         ("orderings by", p.get("order_by")), ("pacings", p.get("pacings")),
                         ("a (full at)", p.get("full_at")), ("b (start)", p.get("start_fraction")),
                         ("grid seeds", p.get("grid_seeds")),
                         ("baseline seeds", p.get("baseline_seeds")), ("best k", best_k)]]))
        sections.append(intro)
    folders = score_folders(root)
    for i, folder in enumerate(folders):
        tag = f"{i}_" if len(folders) > 1 else ""
        sections += score_section(folder, files, target=target, class_names=class_names, tag=tag,
                                  glance=glance if i == 0 else None)
    records = find_runs(root)
    if records:
        stability = score_stability(root / "score", (plan or {}).get("plan", {}).get(
            "scorers", [])) if plan is not None else None
        runs = runs_sections(records, files, best_k=best_k, plan=plan, stability=stability,
                             glance=glance)
        results = [sec for sec in runs if sec.title.startswith("Results")]
        at = 1 if plan is not None else 0  # the answer first: after the protocol's settings
        sections[at:at] = results
        sections += [sec for sec in runs if sec not in results]
    if not sections or (plan is not None and len(sections) == 1):
        unfinished = [d for d in run_folders(root) if not is_finished(d)]
        if unfinished:
            raise InputError(
                f"Nothing finished to report in {str(root)!r}: expected metrics.json and "
                f"predictions.npz in each train run; {len(unfinished)} run(s) lack them (e.g. "
                f"{str(unfinished[0])!r}). Finish them with the same command and --resume."
            )
        raise InputError(
            f"Nothing to report in {str(root)!r}: expected an easyfirst score folder (run.json "
            "and scores/*.csv), finished train runs (metrics.json and predictions.npz) or a "
            "reproduce folder; got none. Pass the --out folder of one of those commands."
        )
    if folders:  # a score or reproduce folder: the answer first
        sections.insert(0, summary_section(glance, [sec.title for sec in sections]))
    kind = "reproduce" if plan is not None else ("score" if folders and not records else
                                                 "train" if records and not folders else "runs")
    return f"easyfirst report: {root.name} ({kind})", sections


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:2em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.85em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
tr:nth-child(even) td{background:#fafafa}
.caption{font-weight:600;margin:.8em 0 .2em}.note{color:#666;font-size:.8em;margin-top:0}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85em}
""" + blocks.CSS


def render_html(title: str, sections: Sequence[Section]) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    for sec in sections:
        parts.append(f"<h2 id='{anchor(sec.title)}'>{html.escape(sec.title)}</h2>")
        for b in sec.blocks:
            if isinstance(b, Table):
                parts.append(format_html(b))
            elif isinstance(b, Image):
                img = f"<img src='{_data_uri(b.path)}' alt='{html.escape(b.caption)}'>"
                parts.append(f"<figure>{blocks.linked_html(img, b)}<figcaption>"
                             f"{html.escape(b.caption)}</figcaption></figure>")
            elif isinstance(b, blocks.Gallery):
                parts.append(blocks.gallery_html(b))
            else:
                parts.append(f"<p>{html.escape(b)}</p>")
        if sec.contents:
            parts.append("<nav class='contents'><p class='caption'>Contents</p><ol>" + "".join(
                f"<li><a href='#{anchor(t)}'>{html.escape(t)}</a></li>" for t in sec.contents)
                + "</ol></nav>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(title: str, sections: Sequence[Section], out_dir: Path) -> str:
    parts = [f"# {title}"]
    for sec in sections:
        parts.append(f"## {sec.title}")
        for b in sec.blocks:
            if isinstance(b, Table):
                parts.append(format_markdown(b))
            elif isinstance(b, Image):
                parts.append(f"![{b.caption}]({b.path.relative_to(out_dir).as_posix()})")
            elif isinstance(b, blocks.Gallery):
                parts.append(blocks.gallery_markdown(b))
            else:
                parts.append(b)
        if sec.contents:
            parts.append("**Contents**\n\n" + "\n".join(
                f"{i}. [{t}](#{anchor(t)})" for i, t in enumerate(sec.contents, 1)))
    return "\n\n".join(parts) + "\n"


STAGING = ".report-staging."  # the folder a report is built in, beside its final place


def write_report(
    run_dir: str | Path, out_dir: str | Path | None = None, *, target: float = 0.9,
    best_k: int = 3,
) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` for ``run_dir``.

    Args:
        run_dir: a score, train or reproduce output folder.
        out_dir: where to write (default: ``run_dir``).
        target: Spearman for the seeds-needed estimate.
        best_k: number of best baselines to compare against (a reproduce folder's plan wins).

    Returns:
        ``(html_path, markdown_path)``.
    """
    from easyfirst.scores import atomic_write_text

    root = Path(run_dir)
    if not root.is_dir():
        raise MissingFileError(
            f"{str(root)!r} is not a folder; expected the --out folder of easyfirst score, "
            "train or reproduce. Check the path."
        )
    if not 0 < target < 1:
        raise InputError(
            f"Expected target (--target, a Spearman correlation) in (0, 1); got {target}. "
            "Pass e.g. 0.9."
        )
    if best_k < 1:
        raise InputError(
            f"Expected best_k (--best-k, the best baselines compared with) >= 1; got {best_k}. "
            "Pass e.g. 3."
        )
    out = Path(out_dir) if out_dir is not None else root
    if out.exists() and not out.is_dir():
        raise InputError(
            f"Expected the report's --out to be a folder; got {str(out)!r}, an existing file. "
            "Choose another --out (nothing was changed)."
        )
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{STAGING}*{PARTIAL}"):  # a killed report's: ours to remove
        shutil.rmtree(stale, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(dir=out, prefix=STAGING, suffix=PARTIAL))
    try:  # built beside, moved in once whole: a refused report leaves the folder as it was
        title, sections = collect_sections(root, stage / FILES_DIR, target=target,
                                           best_k=best_k)
        atomic_write_text(stage / "report.html", render_html(title, sections))
        atomic_write_text(stage / "report.md", render_markdown(title, sections, stage))
        for child in sorted(stage.iterdir()):
            _replace(out / child.name, child)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / "report.html", out / "report.md"


def _replace(target: Path, new: Path) -> None:
    """Put ``new`` (a file or folder of the staged report) at ``target``, the previous
    report's version removed first."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(new, target)
