"""The report's samples to look at and listen to: tables, files, data-map links, a browser."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from easyfirst.analysis import plots
from easyfirst.analysis.label_issues import find_label_issues
from easyfirst.analysis.report import write_report
from easyfirst.analysis.sample_media import CLIP_FORMAT
from easyfirst.cli.main import main
from easyfirst.data.synthkws import SYNTHKWS_DIR
from easyfirst.recording.dynamics import TrainingDynamics

ISSUE = 3  # the training row made a likely label issue
CLIP = CLIP_FORMAT[2]  # .mp3 where libsndfile writes MP3, else .wav


def _synthkws_subset(root: Path, sizes: dict[str, int]) -> Path:
    """A synthkws root listing every k-th clip of each split (all ten words); its word
    folders link to the shipped ones."""
    with open(SYNTHKWS_DIR / "metadata.csv", newline="") as f:
        rows = list(csv.reader(f))
    keep = [rows[0]]
    for split, n in sizes.items():
        part = [r for r in rows[1:] if r[-1] == split]
        keep += part[:: len(part) // n][:n]
    root.mkdir()
    for word in {Path(r[0]).parts[0] for r in keep[1:]}:
        (root / word).symlink_to(SYNTHKWS_DIR / word, target_is_directory=True)
    with open(root / "metadata.csv", "w", newline="") as f:
        csv.writer(f).writerows(keep)
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-seed synthkws score run on 40 clips, with sample ISSUE made a label issue."""
    base = tmp_path_factory.mktemp("gallery")
    root = _synthkws_subset(base / "clips", {"train": 40, "dev": 10, "test": 10})
    out = base / "run"
    assert main(["score", "--dataset", "synthkws", "--root", str(root), "--seeds", "0,1",
                 "--epochs", "2", "--batch-size", "16", "--scorer", "cumacc,aum",
                 "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    for sd in (out / "seeds").iterdir():  # never right in training, confidently another class
        d = TrainingDynamics.load(sd / "dynamics.pt")
        assert d.eval_predicted is not None and d.eval_confidence is not None
        assert d.targets is not None
        d.correct_sum[ISSUE] = 0
        d.eval_predicted[ISSUE] = (d.targets[ISSUE] + 1) % 10
        d.eval_confidence[ISSUE] = 0.97
        assert d.margin_sum is not None
        d.margin_sum[ISSUE] = -100.0 * d.epochs  # the lowest AUM: most evidence
        d.save(sd / "dynamics.pt")
    return out


@pytest.fixture(scope="module")
def report(run: Path) -> Path:
    write_report(run)
    return run


def _tables(md: str) -> dict[str, list[list[str]]]:
    """Markdown tables by title: rows of cells."""
    out: dict[str, list[list[str]]] = {}
    for title, body in re.findall(r"\*\*(.+?)\*\*\n\n((?:\|.*\n?)+)", md):
        out[title] = [[c.strip() for c in line.strip().strip("|").split(" | ")]
                      for line in body.strip().splitlines()[2:]]
    return out


def test_hardest_easiest_and_label_issues_with_their_files(report: Path) -> None:
    md = (report / "report.md").read_text()
    tables = _tables(md)
    names = json.loads((report / "summary.json").read_text())["class_names"]
    for scorer in ("cumacc", "aum"):
        hard, easy = (tables[f"{scorer}: the 5 {w} training samples"] for w in ("hardest",
                                                                                "easiest"))
        assert len(hard) == len(easy) == 5
        for row in hard + easy:
            assert re.fullmatch(r"!\[.+\]\(report_samples/\d+\.png\)", row[0])
            assert re.fullmatch(rf"\[listen\]\(report_samples/\d+\{CLIP}\)", row[1])
            assert row[3] in names and row[2].endswith(".flac")
        assert max(float(r[4]) for r in hard) <= min(float(r[4]) for r in easy)  # higher: easier
    issues = next(rows for title, rows in tables.items() if title.startswith("Likely label"))
    given = np.load(report / "samples.npz")["train.targets"][ISSUE]
    assert issues[0][0].endswith(f"/{ISSUE}.png)")  # the most evidence: first
    assert issues[0][3:8] == [names[given], names[(given + 1) % 10], "0.970", "1.00", "-100"]
    assert [float(r[7]) for r in issues] == sorted(float(r[7]) for r in issues)  # lowest AUM first
    assert re.search(r"\d+ flagged: the \d+ samples with the hardest mean aum over the seeds "
                     r"among the \d+ whose suggested class differs from the given label; "
                     r"\d+ wrong labels estimated by a two-component Gaussian mixture", md)
    flagged = re.search(r"Likely label issues: (\d+) flagged", md)
    glance = dict(tables["At a glance"])  # the summary counts them too
    assert flagged and glance["likely label issues"].startswith(f"{flagged.group(1)} flagged,")
    files = sorted((report / "report_samples").iterdir())
    linked = set(re.findall(r"\((report_samples/[^)]+)\)", md))
    assert {f"report_samples/{f.name}" for f in files} == linked  # every file linked, no others
    png, clips = ([p.stat().st_size for p in files if p.suffix == s] for s in (".png", CLIP))
    assert len(png) == len(clips) == len(files) / 2 and max(png) < 30_000 and max(clips) < 40_000
    said = re.search(r"report_samples/: (\d+) thumbnails \(PNG\), (\d+) KB; (\d+) clips "
                     r"\([^)]*\), (\d+) KB\.", md)
    assert said and [int(g) for g in said.groups()] == [
        len(png), round(sum(png) / 1024), len(clips), round(sum(clips) / 1024)]


def test_data_map_points_link_to_their_rows(report: Path) -> None:
    page = (report / "report.html").read_text()
    hrefs = re.findall(r"<a href='#(sample-\d+)'><circle", page)
    anchors = re.findall(r"<tr id='(sample-\d+)'>", page)
    assert hrefs and sorted(hrefs) == sorted(anchors) and len(set(anchors)) == len(anchors)
    assert f"sample-{ISSUE}" in anchors


def test_data_map_positions_are_the_ringed_points(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    conf, var = rng.random(200), rng.random(200) * 0.4
    png, xy = plots._data_map(conf, var, conf > 0.5, tmp_path / "m.png", title="", mark=[7, 42])
    grey = np.asarray(PILImage.open(png).convert("L"), dtype=float)
    for x, y in np.round(xy).astype(int):  # a black ring within 6 pixels of each position
        assert grey[y - 6:y + 7, x - 6:x + 7].min() < 60 and grey[y, x] > 60


def test_rule_and_the_lines_that_say_why(report: Path, tmp_path: Path) -> None:
    def dyn(aum: list[float], pred: list[int], conf: list[float], p_given: list[float]
            ) -> TrainingDynamics:
        n = len(aum)
        z = torch.zeros(n, dtype=torch.long)
        return TrainingDynamics(10, torch.full((n,), 10), z, z, z, z, torch.zeros(n),
                                margin_sum=torch.tensor(aum) * 10,
                                eval_loss=-torch.tensor(p_given).log(),
                                eval_predicted=torch.tensor(pred),
                                eval_confidence=torch.tensor(conf))

    targets = np.array([0, 0, 0, 0, 1, 1])
    # class 0's threshold: mean p(0) = 0.5; class 1's: 0.8. Sample 0 and 1 are confidently
    # class 1 (0.9 >= 0.8); sample 2 predicts 1 below its threshold; 3 is confidently 0.
    a = dyn([-3, -1, -2, 2, 2, 2], [1, 1, 1, 0, 1, 1], [.9, .9, .7, .9, .8, .8],
            [.1, .1, .3, .9, .8, .8])
    found = find_label_issues([a, a], targets)
    # the mixture: minus AUM {3, 1, 2} against {-2, -2, -2}: 3 counted, 3 candidates flagged
    assert found.estimated == 3 and len(found) == 3
    # confident learning, class 0: 2 of its 3 confident samples are confidently another class
    assert found.confident == pytest.approx(2 / 3 * 4)
    assert found.index.tolist() == [0, 2, 1]  # candidates by mean AUM, lowest first
    assert found.suggested.tolist() == [1, 1, 1] and found.agreement.tolist() == [1, 1, 1]
    np.testing.assert_allclose(found.evidence, [-3, -2, -1])
    assert "3 flagged" in found.rule() and "confident learning on the eval passes: 2.7" in \
        found.rule()
    clean = dyn([-3, -1, -2, 2, 2, 2], [0, 0, 0, 0, 1, 1], [.9] * 6, [.9] * 6)
    none = find_label_issues([clean], targets)
    assert len(none) == 0 and none.rule().startswith("0 flagged: the eval passes predict the "
                                                     "given label of every training sample")
    with pytest.raises(ValueError, match="lack the eval pass"):
        find_label_issues([TrainingDynamics(1, *(torch.zeros(5, dtype=torch.long),) * 5,
                                            torch.zeros(5))], targets[:5])
    with pytest.raises(ValueError, match="multi-label"):
        find_label_issues([a], np.zeros((6, 10)))
    root = Path(json.loads((report / "run.json").read_text())["config"]["dataset_options"]
                ["root"])
    root.rename(root.with_name("moved"))  # the data is gone: tables, no media, one line why
    try:
        _, md_path = write_report(report, tmp_path / "rep")
    finally:
        root.with_name("moved").rename(root)
    md = md_path.read_text()
    assert "cumacc: the 5 hardest training samples" in md and "report_samples/" not in md
    assert re.search(r"No thumbnails or players: loading dataset 'synthkws' again failed \(.+\)",
                     md)


CHECK = """<script>
window.addEventListener("load", () => {
  const audios = [...document.querySelectorAll("audio")];
  const ready = a => a.readyState >= 1 || a.error;
  const wait = a => ready(a) ? 0 : new Promise(r => {
    a.addEventListener("loadedmetadata", r); a.addEventListener("error", r); });
  const write = () => {
    const out = document.createElement("pre");
    out.id = "easyfirst-check";
    out.textContent = JSON.stringify({
      height: document.documentElement.scrollHeight,
      first: document.querySelector("h2").id,  // the summary, then its contents' links
      contents: [...document.querySelectorAll("nav.contents a")].map(
        a => !!document.getElementById(a.getAttribute("href").slice(1))),
      images: [...document.images].map(i => [i.src.slice(0, 80), i.complete && i.naturalWidth > 0]),
      audio: audios.map(a => [a.getAttribute("src"), a.readyState >= 1 && !a.error, a.duration]),
      links: [...document.querySelectorAll("svg a")].map(a => {  // on top, and a real row
        const c = a.querySelector("circle");
        c.scrollIntoView({block: "center"});
        const r = c.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return !!(hit && hit.closest("a") && document.getElementById(
          hit.closest("a").getAttribute("href").slice(1)));
      })});
    document.body.appendChild(out);
  };
  Promise.race([Promise.all(audios.map(wait)), new Promise(r => setTimeout(r, 4000))]).then(write);
});
</script>"""


def test_a_relative_root_is_found_from_another_folder(run: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """run.json keeps a relative --root as given, and the folder it was run in: the report,
    written from elsewhere, still loads the data for its media."""
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report*", "*.html", "*.md"))
    record = json.loads((copy / "run.json").read_text())
    root = Path(record["config"]["dataset_options"]["root"])
    record["config"]["dataset_options"]["root"] = root.name  # as `--root clips` gives it
    record["cwd"] = str(root.parent)
    (copy / "run.json").write_text(json.dumps(record))
    monkeypatch.chdir(tmp_path)  # where no ./clips exists
    _, md_path = write_report(copy, tmp_path / "rep")
    md = md_path.read_text()
    assert "No thumbnails or players" not in md and "report_samples/" in md


def _chromium(tmp_path: Path, *args: str) -> str:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not on PATH: .ci/run installs Debian's chromium when it runs as "
                    "root; elsewhere install it (apt-get install chromium) for this test")
    done = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                           *args], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_the_report_in_a_browser(report: Path, tmp_path: Path) -> None:
    page = (report / "report.html").read_text()
    check = report / "report_check.html"  # beside the report: the same relative paths
    check.write_text(page.replace("</body>", CHECK + "</body>"))
    dom = _chromium(tmp_path, "--dump-dom", check.as_uri())
    found = re.search(r"<pre id=\"easyfirst-check\">(.*?)</pre>", dom, re.S)
    assert found, dom[-2000:]
    state = json.loads(html.unescape(found.group(1)))
    assert len(state["images"]) == page.count("<img ") and all(ok for _, ok in state["images"])
    assert state["audio"] and len(state["audio"]) == page.count("<audio ")
    assert all(ok and dur > 0 for _, ok, dur in state["audio"]), state["audio"]
    assert state["links"] and all(state["links"])
    assert state["first"] == "summary" and state["contents"] and all(state["contents"])
    assert len(state["contents"]) == page.count("<h2 ") - 1
    shot = tmp_path / "report.png"  # the whole page: a window as tall as it
    _chromium(tmp_path, f"--screenshot={shot}", f"--window-size=1300,{min(state['height'], 16000)}",
              "--hide-scrollbars", (report / "report.html").as_uri())
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")


def test_noise_injected_from_python_is_reloaded_for_the_media(tmp_path: Path) -> None:
    """Label noise added with with_label_noise (not the CLI) is in run.json: the report loads
    the same data again (thumbnails) and scores each scorer against the flipped labels."""
    from easyfirst.data import load_dataset, with_label_noise
    from easyfirst.training.config import configure
    from easyfirst.workflows.score import score_dataset

    bundle = with_label_noise(load_dataset("digits"), 0.1, "pairs", seed=3)
    cfg, _ = configure(bundle, model="mlp", epochs=2, device="cpu", dataset="digits")
    out = tmp_path / "noisy"
    score_dataset(bundle, cfg, seeds=[0], scorers=["cumacc", "aum"], out_dir=out,
                  progress=False)
    _, md_path = write_report(out)
    md = md_path.read_text()
    assert "No thumbnails" not in md and "report_samples/" in md
    rows = _tables(md)["Injected label noise: 126 of 1257 training labels flipped"]
    assert [r[0] for r in rows] == ["aum", "cumacc", "label issues (flagged)"]
    assert all(0.5 < float(r[1]) <= 1 for r in rows[:2])  # AUROC above chance after 2 epochs
