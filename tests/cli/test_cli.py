"""The easyfirst command end to end on the bundled digits (fast, CPU)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from easyfirst.cli.main import main
from easyfirst.recording import TrainingDynamics
from easyfirst.scores import Scores

FAST = ["--dataset", "digits", "--model", "mlp", "--epochs", "3", "--no-progress",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("score")
    assert main(["score", *FAST, "--scorer", "cumacc,fit,aum", "--seeds", "0,1",
                 "--out", str(out)]) == 0
    return out


def test_score_writes_runs_scores_and_summary(scored, capsys):
    for seed in (0, 1):
        d = TrainingDynamics.load(scored / "seeds" / f"seed_{seed}" / "dynamics.pt")
        assert d.meta["seed"] == seed and d.epochs == 3
        assert (scored / "seeds" / f"seed_{seed}" / "scores" / "cumacc.csv").is_file()
    ens = Scores.load(scored / "scores" / "cumacc.csv")
    members = [Scores.load(scored / "seeds" / f"seed_{s}" / "scores" / "cumacc.csv")
               for s in (0, 1)]
    np.testing.assert_allclose(ens.values, (members[0].values + members[1].values) / 2)
    assert ens.meta["seeds"] == [0, 1]
    summary = json.loads((scored / "summary.json").read_text())
    assert set(summary["scorers"]) == {"cumacc", "fit", "aum"}
    assert summary["scorers"]["cumacc"]["num_unique"] <= 2 * 3 + 1


def test_score_rerun_reuses_finished_seeds(scored, capsys):
    before = (scored / "seeds" / "seed_0" / "dynamics.pt").stat().st_mtime_ns
    assert main(["score", *FAST, "--scorer", "cumacc", "--seeds", "0,1", "--out",
                 str(scored), "--resume"]) == 0
    assert (scored / "seeds" / "seed_0" / "dynamics.pt").stat().st_mtime_ns == before
    out = capsys.readouterr().out
    assert "unique values" in out and "largest tie" in out and "easiest:" in out
    summary = json.loads((scored / "summary.json").read_text())
    assert set(summary["scorers"]) == {"cumacc", "fit", "aum"}  # earlier scorers stay listed


def test_score_refuses_folder_of_other_settings(scored, capsys):
    before = (scored / "scores" / "cumacc.csv").read_bytes()
    assert main(["score", *FAST, "--lr", "0.1", "--out", str(scored)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "different lr" in err
    assert (scored / "scores" / "cumacc.csv").read_bytes() == before


@pytest.mark.parametrize("ordering", ["curriculum", "anti", "random", "none"])
def test_train_orderings(scored, tmp_path, ordering):
    out = tmp_path / ordering
    args = ["train", *FAST, "--ordering", ordering, "--out", str(out)]
    if ordering in ("curriculum", "anti"):
        args += ["--scores", str(scored / "scores" / "cumacc.csv")]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    pools = [m["pool_size"] for m in metrics["metrics"]]
    n = 1257
    assert pools[-1] == n and (pools[0] < n) == (ordering != "none")
    assert len({m["steps"] for m in metrics["metrics"]}) == 1  # constant-length epochs
    pred = np.load(out / "predictions.npz")
    assert pred["test_probs"].shape == (270, 10)
    np.testing.assert_allclose(pred["test_probs"].sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ordering", "anit"], "Unknown ordering 'anit'. Available: curriculum, anti"),
        (["--ordering", "random", "--pacing", "lgo"], "Unknown pacing 'lgo'. Available: "),
        (["--ordering", "random", "--start-fraction", "0"], "start_fraction"),
        (["--ordering", "curriculum"], "needs difficulty scores"),
        (["--ordering", "random", "--batch-size", "512", "--start-fraction", "0.1"],
         "batch"),
    ],
)
def test_train_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main(["train", *FAST, *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("easyfirst: error: ") and err.count("\n") == 0
    assert message in err


def test_train_refuses_foreign_or_bad_scores(tmp_path, capsys):
    foreign = Scores(np.ones(1257), higher_is_easier=True,
                     meta={"dataset_fingerprint": "0000"}).save(tmp_path / "f.csv")
    assert main(["train", *FAST, "--scores", str(foreign), "--out", str(tmp_path / "a")]) == 2
    assert "fingerprint 0000, not on this dataset" in capsys.readouterr().err
    short = Scores(np.ones(10), higher_is_easier=True).save(tmp_path / "s.csv")
    assert main(["train", *FAST, "--scores", str(short), "--out", str(tmp_path / "b")]) == 2
    assert "scores for 10 samples but" in capsys.readouterr().err
    fp = __import__("easyfirst").load_dataset("digits").fingerprint
    nan = Scores(np.full(1257, np.nan), higher_is_easier=True,
                 meta={"dataset_fingerprint": fp}).save(tmp_path / "n.csv")
    assert main(["train", *FAST, "--scores", str(nan), "--out", str(tmp_path / "c")]) == 2
    assert "scores are NaN" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["datasets", "models", "scorers"])
def test_listings(capsys, what):
    assert main([what]) == 0
    out = capsys.readouterr().out
    assert {"datasets": "digits", "models": "cnn10", "scorers": "cumacc"}[what] in out


def test_unknown_scorer_is_one_line(tmp_path, capsys):
    assert main(["score", *FAST, "--scorer", "cumac", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Unknown scorer 'cumac'. Available:" in err and err.count("\n") == 1


def test_augmentations_keep_working_in_curriculum_runs(scored, tmp_path):
    base = ["train", *FAST, "--scores", str(scored / "scores" / "cumacc.csv")]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--augment", "random_crop,hflip,mixup", "--out",
                 str(tmp_path / "aug")]) == 0
    plain = np.load(tmp_path / "plain" / "predictions.npz")["test_probs"]
    aug = np.load(tmp_path / "aug" / "predictions.npz")["test_probs"]
    assert not np.allclose(plain, aug)  # the augmentations were applied
    run = json.loads((tmp_path / "aug" / "run.json").read_text())
    assert run["config"]["augment"] == ["random_crop", "hflip", "mixup"]


def test_unknown_augmentation_lists_valid_ones(tmp_path, capsys):
    assert main(["train", *FAST, "--ordering", "none", "--augment", "flip", "--out",
                 str(tmp_path)]) == 2
    assert "Unknown augmentation 'flip'. Available: " in capsys.readouterr().err


def test_interrupted_curriculum_run_resumes_identically(scored, tmp_path):
    from easyfirst.data import load_dataset
    from easyfirst.training.config import RunConfig
    from easyfirst.workflows.curriculum import CurriculumSpec, train_curriculum

    bundle = load_dataset("digits")
    scores = Scores.load(scored / "scores" / "cumacc.csv")
    cfg = RunConfig(dataset="digits", model="mlp", epochs=4, device="cpu",
                    model_options={"dropout": 0.2})
    spec = CurriculumSpec(ordering="curriculum", pacing="root")
    full = train_curriculum(bundle, cfg, spec, scores=scores, out_dir=tmp_path / "a",
                            progress=False)

    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_curriculum(bundle, cfg, spec, scores=scores, out_dir=tmp_path / "b",
                         progress=False, on_epoch_end=interrupt)
    # the scores' cost (a resumed scoring run's wall time) is no setting: the run resumes
    rescored = replace(scores, meta={**scores.meta, "cost": {"wall_s": 123.0}})
    resumed = train_curriculum(bundle, cfg, spec, scores=rescored, out_dir=tmp_path / "b",
                               resume=True, progress=False)
    assert resumed.metrics == full.metrics
    np.testing.assert_array_equal(resumed.test_logits.numpy(), full.test_logits.numpy())


def test_a_pool_smaller_than_a_batch_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "cl"
    args = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--ordering",
            "random", "--start-fraction", "0.01", "--batch-size", "64", "--device", "cpu",
            "--no-progress", "--out", str(out)]
    assert main(args) == 2
    assert "Raise start_fraction or lower batch_size" in capsys.readouterr().err
    assert not out.exists()  # so the fix (a smaller batch) is not refused as other settings
    assert main([*args[:-3], "--batch-size", "8", "--no-progress", "--out", str(out)]) == 0


def test_the_scorers_needs_are_merged_into_one_recorder_spec(tmp_path, capsys):
    """``--outcomes core`` records what the chosen scorers need on top (aum: margins), and
    el2n's epoch, a parameter of that scorer, is what the runs record."""
    out = tmp_path / "s"
    args = ["score", "--dataset", "digits", "--model", "mlp", "--epochs", "3", "--device",
            "cpu", "--seeds", "0", "--no-progress", "--out", str(out), "--outcomes", "core"]
    assert main([*args, "--scorers", "cumacc,aum,el2n", "--el2n-epoch", "2"]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["el2n_epoch"] == 1
    d = TrainingDynamics.load(out / "seeds" / "seed_0" / "dynamics.pt")
    assert d.meta["outcomes"] == ["el2n", "margins"] and d.prob_sum is None
    assert d.el2n_epoch == 1 and not np.isnan(d.el2n.numpy()).all()
    capsys.readouterr()
    assert main([*args[:-2], "--scorers", "cumacc", "--el2n-epoch", "2", "--out",
                 str(tmp_path / "t")]) == 2
    assert "--el2n-epoch is used by el2n only" in capsys.readouterr().err


def test_report_of_a_score_folder_without_a_test_split(tmp_path, capsys):
    """No test split: the summary's test accuracies are None and the report leaves them out
    (it raised TypeError before the summary was typed)."""
    out = tmp_path / "s"
    assert main(["score", "--dataset", "digits", "--dataset-opt", "test_fraction=0", "--model",
                 "mlp", "--epochs", "2", "--seeds", "0,1", "--no-progress", "--device", "cpu",
                 "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] == {"0": None,
                                                                               "1": None}
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").is_file()
