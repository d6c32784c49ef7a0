"""The paper's findings tested on finished runs: cells with intervals, paired comparisons,
verdicts.

Rampp et al. (2024) state findings as differences of means. Here each one is a paired test
(``easyfirst.analysis.stats``) with a verdict, ``shown``, ``reversed`` or ``not
distinguishable at n = K``:

- **Seed-paired** claims compare per-seed values: run type X at seed s (its mean over the
  grid's cells) against type Y at seed s; both started from the same initialisation and
  share the test set. Only seeds where both sides finished every cell count. The interval is
  a bootstrap over seeds, p an exact sign-flip test, and ``seeds_needed`` says how many seeds
  a difference of the observed size would need (from the observed spread).
- **Late fusion** claims compare fused models on the test samples: a paired bootstrap over
  samples and McNemar's test (``n`` counts test samples). They hold for these trained models
  and do not cover seed-to-seed variation.
- The p-values of one set of findings are Holm-corrected together (as are the cells of the
  cell table), and a verdict is never ``shown`` or ``reversed`` when its interval holds 0.

``folder_findings`` reads a reproduce folder (or any folder of runs); ``reproduce`` writes
the result to ``findings.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.analysis.fusion import compare_fusions
from easyfirst.analysis.results import (
    KINDS,
    PACING_ORDER,
    RunRecord,
    Table,
    find_runs,
    fusion_groups,
    in_metric,
)
from easyfirst.analysis.stats import (
    Finding,
    finding,
    finding_from,
    holm,
    holm_findings,
    mean_interval,
    paired_difference,
    verdict,
)

ALPHA = 0.05
FINDINGS_FILE = "findings.json"
Cell = tuple[str, float]  # (pacing, a)


def cell_of(r: RunRecord, *, pacing: bool = True) -> Cell:
    """The grid cell of a run: (pacing, a); ``("-", -1.0)`` for a baseline."""
    a = r.full_at if math.isfinite(r.full_at) else -1.0
    return (r.pacing if pacing else "-", a)


@dataclass(frozen=True)
class Side:
    """One side of a seed-paired claim: the runs of one type (and ordering scorer).

    ``by_pacing=False`` pairs cells by a alone (to compare two pacings with each other).
    """

    name: str
    runs: tuple[RunRecord, ...]
    by_pacing: bool = True

    def cells(self) -> set[Cell]:
        return {cell_of(r, pacing=self.by_pacing) for r in self.runs}

    def per_seed(self, cells: set[Cell]) -> dict[int, float]:
        """Mean test accuracy over ``cells`` per seed that finished every one of them."""
        out: dict[int, float] = {}
        for seed in sorted({r.seed for r in self.runs}):
            mine = [r for r in self.runs
                    if r.seed == seed and cell_of(r, pacing=self.by_pacing) in cells]
            if mine and {cell_of(r, pacing=self.by_pacing) for r in mine} == cells:
                out[seed] = float(np.mean([r.test_accuracy for r in mine]))
        return out


def side(records: Sequence[RunRecord], name: str, keep: Callable[[RunRecord], bool]) -> Side:
    return Side(name, tuple(r for r in records if keep(r) and math.isfinite(r.test_accuracy)))


def _paired(a: Side, b: Side) -> tuple[list[float], list[float]]:
    """Per-seed values of a and b on their common cells (all cells for a baseline side)."""
    cells_a, cells_b = a.cells(), b.cells()
    if any(r.kind == "baseline" for r in b.runs):
        common_a, common_b = cells_a, cells_b
    else:
        common_a = common_b = cells_a & cells_b
    va, vb = a.per_seed(common_a), b.per_seed(common_b)
    seeds = sorted(set(va) & set(vb))
    return [va[s] for s in seeds], [vb[s] for s in seeds]


def seed_finding(claim: str, a: Side, b: Side, *, tests: int = 1) -> Finding | None:
    """``a`` beats ``b``, paired by seed; None when fewer than 2 seeds pair up. ``tests``:
    the findings it will be Holm-corrected with (for its seeds needed)."""
    va, vb = _paired(a, b)
    if len(va) < 2:
        return None
    note = f"{a.name} vs {b.name}, paired by seed, mean over {len(a.cells())} cell(s)"
    return finding(claim, va, vb, expected_sign=+1, confidence=1 - ALPHA, note=note,
                   tests=tests)


def primary_scorer(records: Sequence[RunRecord]) -> str | None:
    """The scorer that orders most CL runs (ties: by name)."""
    names = [r.scorer for r in records if r.kind == "CL" and r.scorer]
    return min(set(names), key=lambda n: (-names.count(n), n)) if names else None


def _ordering_sides(records: Sequence[RunRecord], by: str | None) -> dict[str, Side]:
    """CL, RCL, ACL and baseline runs; CL and ACL only as ordered by the scorer ``by``."""

    def keep(kind: str) -> Callable[[RunRecord], bool]:
        ordered = kind in ("CL", "ACL")
        return lambda r: r.kind == kind and (not ordered or r.scorer in (None, by))

    return {kind: side(records, kind, keep(kind)) for kind in ("CL", "RCL", "ACL", "baseline")}


def _pacing_claim(cl: Side) -> tuple[str, Side, Side] | None:
    """Fastest against slowest pacing of the CL runs, paired by seed and a."""
    rank = {p: i for i, p in enumerate(PACING_ORDER)}
    pacings = sorted({r.pacing for r in cl.runs}, key=lambda p: rank.get(p, len(rank)))
    if len(pacings) < 2:
        return None
    fast, slow = pacings[0], pacings[-1]
    return (f"faster pacing beats slower pacing (CL, {fast} vs {slow})",
            Side(f"CL {fast}", tuple(r for r in cl.runs if r.pacing == fast), False),
            Side(f"CL {slow}", tuple(r for r in cl.runs if r.pacing == slow), False))


def _stability_claim(records: Sequence[RunRecord], stability: Mapping[str, float]
                     ) -> tuple[str, Side, Side] | None:
    """CL ordered by the most seed-stable scorer against CL by the least stable one."""
    scorers = sorted({r.scorer for r in records
                      if r.kind == "CL" and r.scorer is not None and r.scorer in stability})
    if len(scorers) < 2:
        return None
    most = max(scorers, key=lambda s: stability[s])
    least = min(scorers, key=lambda s: stability[s])
    if most == least:
        return None
    claim = (f"the more seed-stable scorer gives the better curriculum ({most}, r1 "
             f"{stability[most]:.3f}, vs {least}, r1 {stability[least]:.3f})")
    return (claim, side(records, f"CL ({most})", lambda r: r.kind == "CL" and r.scorer == most),
            side(records, f"CL ({least})", lambda r: r.kind == "CL" and r.scorer == least))


def _seed_claims(records: Sequence[RunRecord], stability: Mapping[str, float],
                 by: str | None) -> list[tuple[str, Side, Side]]:
    """The seed-paired claims whose run types are present: (claim, a, b), a beats b."""
    sides = _ordering_sides(records, by)
    cl, rcl, acl, base = (sides[k] for k in ("CL", "RCL", "ACL", "baseline"))
    claims = [("CL beats the baseline", cl, base),
              ("easy-to-hard (CL) beats hard-to-easy (ACL)", cl, acl),
              ("the difficulty order beats a random one with the same pacing (CL vs RCL)",
               cl, rcl)]
    extra = [_pacing_claim(cl), _stability_claim(records, stability)]
    return claims + [c for c in extra if c is not None]


def paper_findings(records: Sequence[RunRecord], *, best_k: int = 3,
                   stability: Mapping[str, float] | None = None,
                   order_by: str | None = None) -> list[Finding]:
    """The paper's findings on ``records``, Holm-corrected together.

    Args:
        records: finished runs (``find_runs``), e.g. of one reproduce folder.
        best_k: the fused baselines of ``fusion_groups``.
        stability: per ordering scorer, its single-seed rank correlation r1 (the seed
            robustness curve); with two or more scorers that order CL runs, adds the claim
            that the more stable one gives the better curriculum.
        order_by: the scorer whose CL and ACL runs the ordering claims use (default: the
            one ordering most CL runs, ``primary_scorer``).

    Returns:
        The testable claims: seed-paired ones first, then late fusion (a claim is left out
        when its run types are missing or fewer than 2 seeds pair up).
    """
    fused = [f for _, f in fusion_findings(records, best_k=best_k)]
    claims = _seed_claims(records, stability or {}, order_by or primary_scorer(records))
    paired = [seed_finding(c, a, b, tests=len(claims) + len(fused)) for c, a, b in claims]
    kept = [f for f in paired if f is not None] + fused
    return holm_findings(kept, alpha=ALPHA) if kept else []


def fusion_findings(records: Sequence[RunRecord], *, best_k: int = 3
                    ) -> list[tuple[str, Finding]]:
    """Late fusion of the orderings against its best member and against fused baselines.

    Returns ``(group, finding)`` pairs (not Holm-corrected): the first fusion group with
    several run types against its best member (chosen on dev), and against the group
    ``B1..Bm`` fusing as many baselines. Empty for multi-label runs.
    """
    groups = fusion_groups(records, k=best_k)
    mixed = next(((g, m) for g, m in groups.items() if not g.startswith("B")), None)
    if mixed is None:
        return []
    name, members = mixed
    best = max(members, key=lambda r: (r.selection_accuracy(), r.name))
    against = {f"its best member ({best.name})": [best]}
    bases = groups.get(f"B1..B{len(members)}")
    if bases is not None:
        against[f"fusing {len(bases)} baselines (B1..B{len(bases)})"] = bases
    fused = [r.predictions("test") for r in members]
    out = []
    for what, runs in against.items():
        comp = compare_fusions(fused, [r.predictions("test") for r in runs])
        if comp is not None:
            out.append((name, finding_from(
                f"late fusion {name} beats {what}", comp, expected_sign=+1, alpha=ALPHA,
                note="paired bootstrap over test samples, McNemar p; n = test samples")))
    return out


@in_metric
def cell_table(records: Sequence[RunRecord]) -> Table:
    """Every grid cell: mean test accuracy [95 % CI] over seeds, and its paired difference
    from the baseline of the same seeds, Holm-corrected over the cells."""
    base = {r.seed: r.test_accuracy for r in records if r.kind == "baseline"}
    rank = {p: i for i, p in enumerate(PACING_ORDER)}
    keys = sorted({(r.label, r.pacing, r.full_at) for r in records if r.kind != "baseline"},
                  key=lambda k: (KINDS.index(k[0].split(" ")[0]) if k[0].split(" ")[0] in KINDS
                                 else len(KINDS), k[0], rank.get(k[1], len(rank)), k[2]))
    rows, comps = [], []
    for label, pacing, a in keys:
        mine = {r.seed: r.test_accuracy for r in records
                if (r.label, r.pacing, r.full_at) == (label, pacing, a)}
        seeds = sorted(s for s in mine if s in base)
        comp = paired_difference([mine[s] for s in seeds], [base[s] for s in seeds]) \
            if seeds else None
        comps.append(comp)
        rows.append([label, pacing, f"{a:g}", mean_interval(list(mine.values())).text()])
    ps = [c.p for c in comps if c is not None]
    adjusted = iter(holm(ps)) if ps else iter(())
    for row, comp in zip(rows, comps, strict=True):
        if comp is None:
            row += ["-", "-", "no baseline of these seeds"]
            continue
        q = float(next(adjusted))
        v = verdict(comp.effect, comp.ci_low, comp.ci_high, expected_sign=+1, p=q, alpha=ALPHA)
        word = {"shown": "above baseline", "reversed": "below baseline"}.get(
            v, f"not distinguishable at n = {comp.n}")
        row += [comp.text().split(", p")[0], f"{q:.4g}", word]
    if base:
        rows.append(["baseline", "-", "-", mean_interval(list(base.values())).text(),
                     "-", "-", "-"])
    return Table("Test accuracy per cell, paired with the baseline of the same seed",
                 ["type", "pacing", "a", "mean [95 % CI] (n)", "Δ vs baseline [95 % CI]",
                  "p (Holm)", "verdict"], rows,
                 note="intervals: percentile bootstrap over seeds; Δ pairs seed s of the cell "
                 "with baseline seed s; p: exact sign-flip test, Holm-corrected over the "
                 f"cells; a verdict needs p < {ALPHA:g} and an interval without 0.")


def _seeds_text(n: int | None) -> str:
    return "-" if n is None else "> 1000" if n > 1000 else str(n)


def findings_table(findings: Sequence[Finding], *, metric: str = "accuracy") -> Table:
    """One row per finding: claim, verdict, effect [CI], p, n, seeds a difference needs;
    ``metric``: what the effects are differences of (``mAP`` for multi-label runs)."""
    rows = [[f.claim, f.verdict if f.verdict != "not distinguishable"
             else f"not distinguishable at n = {f.n}",
             f.text().split("effect ", 1)[1].split(", p =")[0], f"{f.p:.4g}", str(f.n),
             _seeds_text(f.seeds_needed)] for f in findings]
    return Table("The paper's findings on these runs", ["claim", "verdict",
                 "effect [95 % CI]", "p (Holm)", "n", "seeds needed"], rows,
                 note=f"effect = first side minus second, in test {metric}. Seed-paired claims: "
                 "n = seeds; fusion claims: n = test samples. Seeds needed: for the observed "
                 "difference and spread at 80 % power and alpha / (number of findings), normal "
                 "approximation (findings.json has the exact number).")


def findings_dict(findings: Sequence[Finding], stability: Mapping[str, float] | None = None
                  ) -> dict[str, Any]:
    """The content of ``findings.json``."""
    return {"alpha": ALPHA, "correction": f"Holm over the {len(findings)} findings",
            "findings": [f.to_dict() for f in findings],
            "scorer_stability_r1": {k: round(float(v), 4) for k, v in (stability or {}).items()}}


def score_stability(score_dir: str | Path, names: Sequence[str]) -> dict[str, float]:
    """Per scorer, r1 of its seed robustness curve from a score folder's per-seed files."""
    from easyfirst.analysis.per_sample import seed_dirs
    from easyfirst.analysis.robustness import robustness_curve
    from easyfirst.scores import Scores

    seeds = seed_dirs(Path(score_dir)) if Path(score_dir).is_dir() else []
    out: dict[str, float] = {}
    for name in names:
        files = [sd / "scores" / f"{name}.csv" for sd in seeds]
        members = [Scores.load(f, allow_nan=True) for f in files if f.is_file()]
        if len(members) >= 2:
            r1 = robustness_curve(members).r1
            if math.isfinite(r1):
                out[name] = float(r1)
    return out


def folder_findings(folder: str | Path, *, best_k: int | None = None) -> list[Finding]:
    """``paper_findings`` of the finished runs below ``folder``; a reproduce folder's plan
    gives ``best_k`` and the first ordering scorer, its ``score/`` folder the stability."""
    from easyfirst.run_folder import read_json

    root = Path(folder)
    plan_file = root / "reproduce.json"
    plan = read_json(plan_file, what="the reproduce plan").get("plan", {}) \
        if plan_file.is_file() else {}
    records = find_runs(root)
    names = sorted({r.scorer for r in records if r.scorer})
    order_by = (plan.get("order_by") or [None])[0]
    return paper_findings(records, best_k=best_k or int(plan.get("best_k", 3)),
                          stability=score_stability(root / "score", names), order_by=order_by)
