"""Scores and test accuracy against a known per-sample fact (synthkws: snr_db) in the report."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from easyfirst.analysis.report import write_report
from easyfirst.analysis.sample_facts import band_index, nice_edges
from easyfirst.data import load_dataset
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.scores import Scores
from easyfirst.training.config import RunConfig
from easyfirst.workflows.score import score_dataset


@pytest.mark.parametrize(
    ("values", "edges"),
    [([-9.8, 29.7], [-10, 0, 10, 20, 30]), ([0.0, 1.0], [0, 0.25, 0.5, 0.75, 1.0]),
     ([3.0, 3.0], [3.0, 4.0]), ([1.0, 9.0], [0, 2, 4, 6, 8, 10])],
)
def test_nice_edges(values, edges) -> None:
    assert nice_edges(np.array(values)).tolist() == pytest.approx(edges)


def test_band_index_closes_the_last_band() -> None:
    edges = np.array([0.0, 10.0, 20.0])
    assert band_index(np.array([0.0, 9.9, 10.0, 20.0]), edges).tolist() == [0, 0, 1, 1]


def _with_fact(split: ArraySplit, rng: np.random.Generator) -> ArraySplit:
    fact = rng.uniform(-10, 30, len(split))
    return ArraySplit(split.inputs, split.targets, split.ids, meta={"snr_db": fact})


def test_report_relates_scores_and_test_accuracy_to_the_fact(tmp_path) -> None:
    digits = load_dataset("digits")
    rng = np.random.default_rng(0)
    bundle = DatasetBundle("digits-fact", _with_fact(digits.train, rng),
                           digits.dev, _with_fact(digits.test, rng), digits.class_names)
    cfg = RunConfig(model="mlp", epochs=2, device="cpu")
    score_dataset(bundle, cfg, seeds=[0, 1], scorers=["cumacc", "aum"], out_dir=tmp_path,
                  progress=False)
    assert (tmp_path / "samples.npz").is_file()
    assert (tmp_path / "seeds" / "seed_0" / "predictions.npz").is_file()
    _, md = write_report(tmp_path)
    text = md.read_text()
    assert "Spearman of each score with the known per-sample facts" in text
    assert "Mean score per snr_db band (training split)" in text
    assert "Test accuracy of the scoring runs per snr_db band" in text
    cum = Scores.load(tmp_path / "scores" / "cumacc.csv")
    want = spearmanr(cum.values, bundle.train.meta["snr_db"]).statistic
    assert f"| cumacc | {want:.3f} |" in text
    assert "| -10 to 0 |" in text


def test_facts_some_samples_lack_are_left_out_not_fatal(tmp_path) -> None:
    """A fact with NaN for some samples (kwsmix: the second word's SNR of one-word samples)."""
    digits = load_dataset("digits")
    rng = np.random.default_rng(1)
    train = _with_fact(digits.train, rng)
    train.meta["snr_db"][::3] = np.nan
    bundle = DatasetBundle("digits-nan-fact", train, digits.dev, _with_fact(digits.test, rng),
                           digits.class_names)
    score_dataset(bundle, RunConfig(model="mlp", epochs=2, device="cpu"), seeds=[0],
                  scorers=["cumacc"], out_dir=tmp_path, progress=False)
    text = write_report(tmp_path)[1].read_text()
    ok = np.isfinite(train.meta["snr_db"])
    cum = Scores.load(tmp_path / "scores" / "cumacc.csv")
    want = spearmanr(cum.values[ok], train.meta["snr_db"][ok]).statistic
    assert f"| cumacc | {want:.3f} |" in text
    counts = [int(line.split("|")[2]) for line in text.splitlines()
              if line.startswith("| ") and " to " in line.split("|")[1]][:4]
    assert sum(counts) == int(ok.sum())  # the training bands hold the samples with a value
