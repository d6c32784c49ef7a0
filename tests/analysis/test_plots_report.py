"""Plots write PNGs; the report shows what a folder holds, self-contained."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from easyfirst.analysis import plots
from easyfirst.analysis.report import write_report
from easyfirst.analysis.robustness import robustness_curve
from easyfirst.cli.main import main
from easyfirst.pacing import PacingFunction
from easyfirst.recording import OutcomeRecorder
from easyfirst.scores import Scores
from easyfirst.scoring import ensemble, get_scorer

PNG = b"\x89PNG\r\n\x1a\n"
N, C, E = 60, 3, 4


def _dynamics(seed):
    g = torch.Generator().manual_seed(seed)
    targets = torch.arange(N) % C
    signal = torch.linspace(3, -1, N)  # sample 0 easiest
    rec = OutcomeRecorder(N, outcomes="all")
    for _ in range(E):
        logits = torch.randn(N, C, generator=g)
        logits[torch.arange(N), targets] += signal + torch.randn(N, generator=g)
        rec.update(torch.arange(N), logits, targets)
        rec.end_epoch()
    d = rec.dynamics(seed=seed, dataset_fingerprint="fp")
    d.eval_correct = logits.argmax(1) == targets
    d.targets = targets
    return d


@pytest.fixture(scope="module")
def score_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("score")
    runs = [_dynamics(s) for s in range(3)]
    for name in ("cumacc", "fit", "aum"):
        per_seed = get_scorer(name).from_runs(runs)
        for s, sc in enumerate(per_seed):
            sc.save(out / "seeds" / f"seed_{s}" / "scores" / f"{name}.csv")
        ensemble(per_seed).save(out / "scores" / f"{name}.csv")
    for s, d in enumerate(runs):
        d.save(out / "seeds" / f"seed_{s}" / "dynamics.pt")
    (out / "run.json").write_text(json.dumps({"dataset_fingerprint": "fp", "settings": {}}))
    (out / "summary.json").write_text(json.dumps({"test_accuracy": {"0": 0.5, "1": 0.6}}))
    return out


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 2000


def test_each_plot_writes_a_png(tmp_path, score_dir):
    s = Scores.load(score_dir / "scores" / "cumacc.csv")
    assert _is_png(plots.score_histograms(s, tmp_path / "h.png", targets=np.arange(N) % C))
    assert _is_png(plots.score_histograms(s, tmp_path / "h1.png"))
    assert _is_png(plots.data_map(np.random.rand(N), np.random.rand(N) / 3,
                                  np.arange(N) % 2 == 0, tmp_path / "d.png"))
    assert _is_png(plots.agreement_heatmap(["a", "b"], np.array([[1, 0.5], [0.5, np.nan]]),
                                           tmp_path / "a.png"))
    members = [Scores.load(score_dir / "seeds" / f"seed_{i}" / "scores" / "fit.csv")
               for i in range(3)]
    assert _is_png(plots.robustness_plot({"fit": robustness_curve(members)}, tmp_path / "r.png"))
    pfs = [PacingFunction(p, start_fraction=0.2, full_at=a)
           for p in ("logarithmic", "exponential") for a in (0.5, 0.8)]
    assert _is_png(plots.pacing_curves(pfs, tmp_path / "p.png", epochs=6))
    rows = [{"epoch": e + 1, "dev_accuracy": 0.1 * e, "pool_size": min(60, 12 * (e + 1))}
            for e in range(5)]
    assert _is_png(plots.learning_curves({"cl": rows, "empty": []}, tmp_path / "l.png",
                                         num_samples=60))


def test_report_of_a_score_folder(score_dir, tmp_path):
    html_path, md_path = write_report(score_dir, tmp_path / "rep")
    html = html_path.read_text()
    md = md_path.read_text()
    for section in ("Seed-ensemble scores", "Agreement between scoring functions",
                    "Robustness of seed ensembles", "Seeds needed for Spearman 0.9",
                    "Data map"):
        assert section in html and section in md
    imgs = re.findall(r"<img src='([^']*)'", html)
    assert len(imgs) == 3 + 2 + 1 + 1 and all(i.startswith("data:image/png;base64,") for i in imgs)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == len(imgs) and all(_is_png(md_path.parent / p) for p in links)
    assert "Training runs" not in html  # nothing trained here: nothing shown
    ties = {name: Scores.load(score_dir / "scores" / f"{name}.csv").summary()["largest_tie"]
            for name in ("cumacc", "fit", "aum")}
    assert min(ties.values()) == 1 < max(ties.values())  # both cases are shown
    for name, tie in ties.items():
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
        assert (f"| {tie} at " in row) if tie > 1 else ("| none |" in row)


def _md_tables(md):
    """Markdown tables by title: rows of cells."""
    return {title: [[c.strip() for c in line.strip().strip("|").split(" | ")]
                    for line in body.strip().splitlines()[2:]]
            for title, body in re.findall(r"\*\*(.+?)\*\*\n\n((?:\|.*\n?)+)", md)}


def test_report_starts_with_the_answer(score_dir, tmp_path):
    html_path, md_path = write_report(score_dir, tmp_path / "rep")
    html, md = html_path.read_text(), md_path.read_text()
    titles = re.findall(r"^## (.+)$", md, re.M)
    assert titles[0] == "Summary" and re.findall(r"<h2 id='([^']*)'>", html)[0] == "summary"
    tables = _md_tables(md)
    glance = dict(tables["At a glance"])
    assert glance["training samples (N)"] == str(N)
    assert glance["test accuracy per seed"] == "0.5 (seed 0), 0.6 (seed 1); mean 0.55"
    need = {r[0]: r[3] for r in tables["Seeds needed for Spearman 0.9 between two independent "
                                       "ensembles"]}
    k1 = {r[0]: r[2] for r in tables["Agreement and ties by ensemble size"] if r[1] == "1"}
    assert glance["seeds suggested for Spearman 0.9"] == need["aum"]  # the first: aum
    assert glance["seed agreement (aum)"].startswith(f"mean Spearman {float(k1['aum']):.3g} ")
    assert re.fullmatch(r"\d+ flagged, each listed under \"Samples to look at and listen to\""
                        r"|not shown: .+", glance["likely label issues"])
    # the table of contents: every later section, linked to its heading
    contents = re.findall(r"^\d+\. \[(.+)\]\(#([a-z0-9-]+)\)$", md, re.M)
    assert [t for t, _ in contents] == titles[1:]
    for title, slug in contents:
        assert f"<a href='#{slug}'>" in html and f"<h2 id='{slug}'>{title}</h2>" in html
    # no rows without a correlation; counts as whole numbers; what was left out is said
    rows = tables["Agreement and ties by ensemble size"]
    assert rows and all(r[2] != "-" and int(r[4]) > 0 for r in rows)
    assert all(re.fullmatch(r"\d+", r[5]) and re.fullmatch(r"\d+", r[6]) for r in rows)
    assert {r[1] for r in rows} == {"1"} and "left out: k = 2, 3, no pair" in md


def test_data_map_of_several_seeds_is_their_mean(tmp_path):
    from easyfirst.scoring import functional as F

    runs = [_dynamics(s) for s in range(3)]
    mark = [0, 5, 59]
    _, xy = plots.marked_data_map(runs, tmp_path / "m.png", mark)
    conf = np.mean([F.confidence(d).numpy() for d in runs], axis=0)
    var = np.mean([F.variability(d).numpy() for d in runs], axis=0)
    ok = np.mean([d.eval_correct.numpy() for d in runs], axis=0) > 0.5
    _, want = plots._data_map(conf, var, ok, tmp_path / "w.png", title="t", mark=mark)
    assert np.allclose(xy, want)
    _, one = plots.marked_data_map(runs[0], tmp_path / "o.png", mark)
    assert not np.allclose(one, want)  # seed 0 alone is elsewhere


def _write_run(root, name, ordering, pacing, a, probs):
    d = root / "runs" / name
    d.mkdir(parents=True)
    y = np.array([0, 0, 1])
    (d / "run.json").write_text(json.dumps({
        "config": {"seed": 0},
        "curriculum": {"ordering": ordering, "pacing": pacing, "start_fraction": 0.2,
                       "full_at": a}, "scores": None}))
    pools = [1, 3, 3] if ordering != "none" else [3, 3, 3]
    (d / "metrics.json").write_text(json.dumps({
        "metrics": [{"epoch": e + 1, "pool_size": p, "dev_accuracy": 0.3 * e}
                    for e, p in enumerate(pools)],
        "test_accuracy": float(np.mean(probs.argmax(1) == y)), "best_epoch": 2}))
    ids = np.array(["a", "b", "c"])
    np.savez(d / "predictions.npz", dev_probs=probs, dev_targets=y, dev_ids=ids,
             test_probs=probs, test_targets=y, test_ids=ids)


def test_report_of_train_runs(tmp_path):
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    _write_run(tmp_path, "cl", "curriculum", "logarithmic", 0.5, p)
    _write_run(tmp_path, "rcl", "random", "exponential", 0.8, p[:, ::-1])
    _write_run(tmp_path, "b0", "none", "logarithmic", 0.5, p)
    html_path, md_path = write_report(tmp_path / "runs" / "cl")  # one train folder
    assert "Training runs" in html_path.read_text() and "Late fusion" not in md_path.read_text()
    html_path, md_path = write_report(tmp_path)  # a folder of runs
    md = md_path.read_text()
    assert "Mean test accuracy by ordering x pacing" in md and "Late fusion" in md
    assert "Pacing functions used" in md and "Learning curves" in md


def test_report_refuses_a_folder_with_nothing(tmp_path, capsys):
    with pytest.raises(ValueError, match="Nothing to report"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Nothing to report" in err and "expected" in err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_thumbnail_is_cropped_to_the_clip(tmp_path):
    from PIL import Image as PILImage

    clip = np.random.default_rng(0).normal(size=(40, 30))
    floor = np.full((40, 1), -20.0)  # the log-Mel of zero padding: the same in every frame
    padded = np.hstack([clip, floor.repeat(70, axis=1)])[None]  # (1, M, L): 30 of 100 frames
    assert plots.content_frames(padded[0]) == slice(0, 30)
    assert plots.content_frames(np.hstack([floor.repeat(3, 1), clip, floor])) == slice(3, 34)
    assert plots.content_frames(floor.repeat(5, axis=1)) == slice(0, 5)  # nothing but floor
    size = PILImage.open(plots.thumbnail(padded, tmp_path / "t.png", spectrogram=True)).size
    assert size == (30 * 3, 40 * 3)  # the clip only, enlarged by 3 (its 30 frames to >= 64)
    image = PILImage.open(plots.thumbnail(padded, tmp_path / "i.png", spectrogram=False))
    assert image.size == (100 * 2, 40 * 2)  # an image is never cropped
