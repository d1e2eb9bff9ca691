"""`harflow bench zoo`: real (tiny) training runs per model, label set and seed, summarized over seeds."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from harflow.bench import schema
from harflow.bench.zoo import markdown_table, summarize
from tests.conftest import run_harflow


def test_summary_is_mean_and_sample_std_over_seeds() -> None:
    runs = [
        {"model": "lstm", "classes": 6, "seed": s, "test_accuracy": a, "test_macro_f1": a - 0.01,
         "val_macro_f1": 0.9, "train_seconds": 100.0 + s, "samples_per_s": 1000.0 + s}
        for s, a in enumerate([0.95, 0.96, 0.94])
    ] + [
        {"model": "lstm", "classes": 12, "seed": 0, "test_accuracy": 0.9, "test_macro_f1": 0.8,
         "val_macro_f1": 0.8, "train_seconds": 50.0, "samples_per_s": 900.0}
    ]  # fmt: skip
    six, twelve = summarize(runs)
    assert six["seeds"] == [0, 1, 2] and twelve["seeds"] == [0]
    assert six["test_accuracy"]["mean"] == pytest.approx(0.95)
    assert six["test_accuracy"]["std"] == pytest.approx(statistics.stdev([0.95, 0.96, 0.94]))
    assert six["samples_per_s"] == 1001.0 and twelve["test_accuracy"]["std"] == 0.0
    assert "| lstm | 6 | 3 | 0.9500 ± 0.0100 |" in markdown_table([six, twelve])


def test_tiny_zoo_runs_the_trainer_per_seed_and_reports_it(tmp_path: Path) -> None:
    out, runs = tmp_path / "zoo.json", tmp_path / "runs"
    p = run_harflow(
        "bench", "zoo", "--models", "lstm", "--classes", "6,12", "--seeds", "3,4", "--dry-run",
        "--keep-runs", str(runs), "--out", str(out), timeout=600,
    )  # fmt: skip
    doc = schema.load(out)
    assert doc["kind"] == "zoo"
    assert {(r["classes"], r["seed"]) for r in doc["runs"]} == {(6, 3), (6, 4), (12, 3), (12, 4)}
    for r in doc["runs"]:  # each number is the run's own, and its model card is beside it
        assert "--seed" in r["command"] and f"--classes {r['classes']}" in r["command"]
        card = (runs / f"lstm-{r['classes']}-s{r['seed']}" / "model_card.md").read_text()
        assert f"{100 * r['test_accuracy']:.2f} %" in card
    by = {s["classes"]: s for s in doc["summary"]}
    six = [r["test_accuracy"] for r in doc["runs"] if r["classes"] == 6]
    assert by[6]["test_accuracy"]["mean"] == pytest.approx(statistics.fmean(six))
    assert f"{by[12]['test_macro_f1']['mean']:.4f}" in p.stdout
    report = tmp_path / "report"
    run_harflow("bench", "report", str(out), "--out", str(report))
    md = (report / "report.md").read_text()
    assert "Recognition accuracy: every model over seeds" in md and (report / "zoo.png").stat().st_size > 0
    assert f"{by[6]['test_accuracy']['mean']:.4f} ± {by[6]['test_accuracy']['std']:.4f}" in md
    assert "| --epochs 1 --max-steps-per-epoch 3 --subjects 1,3,5,2 | 6 |" in md  # what the rows trained


def test_zoo_rows_name_their_training_flags() -> None:
    from harflow.bench.figures import zoo_recipe

    assert zoo_recipe({"settings": {"train_args": []}}) == "defaults"
    assert zoo_recipe({"settings": {"train_args": ["--train-hop", "0.32"]}}) == "--train-hop 0.32"


def test_unknown_model_is_one_clear_line(tmp_path: Path) -> None:
    p = run_harflow("bench", "zoo", "--models", "lstm,nope", "--out", str(tmp_path / "z.json"), check=False)
    assert p.returncode == 2 and "unknown ['nope']" in p.stdout
