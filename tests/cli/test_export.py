"""Per-sample results of a score folder (digits): the score CSVs' id/label columns,
``easyfirst export`` and ``easyfirst report --hardest``."""

from __future__ import annotations

import csv
import hashlib
import re

import numpy as np
import pytest

from easyfirst.cli.main import main
from easyfirst.recording import TrainingDynamics
from easyfirst.scores import Scores

SCORE = ["score", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--seeds", "0,1,2",
         "--scorer", "cumacc,aum", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "s"
    assert main([*SCORE, "--out", str(out)]) == 0
    return out


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _truth(scored):
    z = np.load(scored / "samples.npz")
    names = [str(i) for i in range(10)]  # digits' class names
    return z["train.ids"].tolist(), [names[t] for t in z["train.targets"]]


def test_score_csvs_carry_id_and_label(scored):
    ids, labels = _truth(scored)
    for path in [scored / "scores" / "cumacc.csv", scored / "seeds" / "seed_1" / "scores" /
                 "aum.csv"]:
        rows = _csv(path)
        assert rows[1] == ["index", "score", "rank", "id", "label"]
        assert [r[3] for r in rows[2:]] == ids and [r[4] for r in rows[2:]] == labels
        assert [float(r[1]) for r in rows[2:]] == Scores.load(path).values.tolist()


def test_export_writes_every_training_sample(scored, tmp_path, capsys):
    out = tmp_path / "all.csv"
    assert main(["export", str(scored), "--out", str(out), "--by", "cumacc"]) == 0
    assert capsys.readouterr().out.strip() == f"samples: {out}"
    rows = _csv(out)
    assert rows[0] == ["rank", "index", "id", "label", "predicted", "aum", "cumacc",
                       "seed_agreement"]
    body = rows[1:]
    ens = {n: Scores.load(scored / "scores" / f"{n}.csv") for n in ("aum", "cumacc")}
    order = ens["cumacc"].easy_to_hard()
    assert [int(r[0]) for r in body] == list(range(1257))
    assert [int(r[1]) for r in body] == order.tolist()
    ids, labels = _truth(scored)
    assert [r[2] for r in body] == [ids[i] for i in order]
    assert [r[3] for r in body] == [labels[i] for i in order]
    assert [float(r[5]) for r in body] == ens["aum"].values[order].tolist()
    assert [float(r[6]) for r in body] == ens["cumacc"].values[order].tolist()
    # predicted: the majority over the 3 seeds' eval passes (ties: the lowest class)
    preds = np.stack([TrainingDynamics.load(scored / "seeds" / f"seed_{s}" / "dynamics.pt")
                      .eval_predicted.numpy() for s in range(3)])
    majority = [np.bincount(preds[:, i], minlength=10).argmax() for i in range(1257)]
    assert [r[4] for r in body] == [str(majority[i]) for i in order]
    # seed agreement: the share of seeds whose rank is in the ensemble rank's decile
    seed_ranks = [Scores.load(scored / "seeds" / f"seed_{s}" / "scores" / "cumacc.csv").ranks()
                  for s in range(3)]
    decile = ens["cumacc"].ranks() * 10 // 1257
    agree = np.mean([r * 10 // 1257 == decile for r in seed_ranks], axis=0)
    assert [float(r[7]) for r in body] == agree[order].tolist()
    assert set(agree) <= {0.0, 1 / 3, 2 / 3, 1.0} and 0 < agree.mean() < 1


def test_export_default_file_and_ranking(scored, capsys):
    assert main(["export", str(scored)]) == 0
    path = scored / "per_sample.csv"
    assert capsys.readouterr().out.strip() == f"samples: {path}"
    rows = _csv(path)[1:]
    order = Scores.load(scored / "scores" / "cumacc.csv").easy_to_hard()  # the run's first
    assert [int(r[1]) for r in rows] == order.tolist()
    path.unlink()


def test_report_hardest_prints_the_hardest_rows_of_the_export(scored, tmp_path, capsys):
    assert main(["export", str(scored), "--out", str(tmp_path / "e.csv"), "--by", "aum"]) == 0
    rows = _csv(tmp_path / "e.csv")[1:]
    capsys.readouterr()
    assert main(["report", str(scored), "--hardest", "4", "--by", "aum"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The 4 hardest training samples by aum")
    lines = out.splitlines()
    header = lines.index(next(x for x in lines if x.startswith("rank")))
    shown = [x.split() for x in lines[header + 2:header + 6]]
    for cells, row in zip(shown, rows[::-1][:4], strict=True):
        assert cells[:5] == row[:5]  # rank, index, id, label, predicted
        assert float(cells[5]) == pytest.approx(float(row[5]), rel=1e-3)
    assert not (scored / "report.html").exists()  # --hardest prints, writes nothing


def _sha(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "{s}", "--by", "nope"],
         r"Unknown scorer 'nope' for --by; '.*' has scores of aum, cumacc\. Pass one of those\."),
        (["export", "{s}/seeds"], r"is not an easyfirst score folder .* Pass the --out folder "
         r"of easyfirst score or reproduce\."),
        (["export", "{s}", "--out", "{s}"], r"Expected --out to be a CSV file; got '.*', an "
         r"existing folder\."),
        (["report", "{s}", "--hardest", "0"],
         r"argument --hardest: expected a whole number >= 1; got '0'"),
        (["report", "{s}", "--by", "aum"], r"--by ranks the samples of --hardest"),
    ],
)
def test_bad_exports_say_so_in_one_line_and_change_nothing(scored, capsys, argv, message):
    before = _sha(scored)
    assert main([a.replace("{s}", str(scored)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert _sha(scored) == before


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "noisy"
    args = ["score", "--dataset", "digits", "--model", "mlp", "--epochs", "4", "--seeds", "0,1",
            "--scorer", "cumacc,aum", "--device", "cpu", "--no-progress"]
    assert main([*args, "--label-noise", "0.1", "--out", str(out)]) == 0
    return out


def test_export_label_issues_lists_the_flagged_samples(noisy, tmp_path, capsys):
    from easyfirst.analysis.label_issues import folder_label_issues

    out = tmp_path / "issues.csv"
    assert main(["export", str(noisy), "--label-issues", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    found, columns, table = folder_label_issues(noisy)
    assert said.startswith(f"label issues: {len(found)} flagged: the {len(found)} samples "
                           "with the hardest mean aum") and said.rstrip().endswith(str(out))
    rows = _csv(out)
    assert rows[0] == columns == ["issue_rank", "index", "id", "given", "suggested",
                                  "probability", "seed_agreement", "evidence (aum)", "aum",
                                  "cumacc"]
    assert [int(r[1]) for r in rows[1:]] == found.index.tolist() and len(found) > 50
    z = np.load(noisy / "samples.npz")
    flipped = z["train.label_flipped"][found.index]
    assert flipped.mean() > 0.8  # digits, mlp, 4 epochs (measured .88; FSDD: benchmarks/)
    assert all(r[3] != r[4] for r in rows[1:])  # the suggestion is another class
    assert [float(r[7]) for r in rows[1:]] == sorted(float(r[7]) for r in rows[1:])
    ids = z["train.ids"]
    assert [r[2] for r in rows[1:]] == [str(ids[i]) for i in found.index]


def test_export_label_issues_refuses_by_and_multi_label_says_why(noisy, capsys):
    assert main(["export", str(noisy), "--label-issues", "--by", "aum"]) == 2
    assert "Expected --by without --label-issues" in capsys.readouterr().err
    assert not (noisy / "label_issues.csv").exists()
