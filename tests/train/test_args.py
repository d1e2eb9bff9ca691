"""The training flags are generated from TrainConfig: every field has one, and each reaches its field."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from typing import Any

import pytest

from harflow.bench import worker
from harflow.train.args import (
    DRY_RUN_SUBJECTS,
    _strip_optional,
    add_config_flags,
    add_train_args,
    config_from_args,
    config_from_namespace,
    flag_name,
)
from harflow.train.config import TrainConfig

FIELDS = dataclasses.fields(TrainConfig)
HINTS = typing.get_type_hints(TrainConfig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_train_args(p)
    return p


def test_every_config_field_has_a_flag():
    dests = {a.dest for a in _parser()._actions}
    missing = [f.name for f in FIELDS if f.name not in dests]
    assert not missing, f"TrainConfig fields without a training flag: {missing}"


def test_a_field_declared_without_a_flag_is_refused(monkeypatch):
    @dataclasses.dataclass
    class Bad(TrainConfig):
        no_flag: int = 0

    monkeypatch.setattr("harflow.train.args.TrainConfig", Bad)
    with pytest.raises(TypeError, match="no_flag has no flag"):
        add_config_flags(argparse.ArgumentParser())


def _other(f: dataclasses.Field) -> Any:
    """A valid value for ``f`` that is not its default."""
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    tp = _strip_optional(HINTS[f.name])
    if tp is bool:
        return not default
    if typing.get_origin(tp) is typing.Literal:
        return next(v for v in typing.get_args(tp) if v != default)
    if typing.get_origin(tp) is list:
        return ["7", "8"]
    if typing.get_origin(tp) is dict:
        return {"hidden_size": 8, "cell": "gru"}
    if tp is str:
        return f"{default}-x"
    return tp((default or 0) + 3)


def _argv(f: dataclasses.Field, v: Any) -> list[str]:
    name = flag_name(f)
    if isinstance(v, bool):
        return [name if v else "--no-" + name[2:]]
    if isinstance(v, list):
        return [name, ",".join(v)]
    if isinstance(v, dict):
        return [x for k, val in v.items() for x in (name, f"{k}={json.dumps(val)}")]
    return [name, str(v)]


def test_each_flag_sets_its_field():
    want = {f.name: _other(f) for f in FIELDS}
    argv = [x for f in FIELDS for x in _argv(f, want[f.name])]
    assert config_from_args(_parser().parse_args(argv)) == TrainConfig(**want)


def test_no_flags_give_the_config_defaults_and_a_timestamped_run_dir():
    cfg = config_from_args(_parser().parse_args([]))
    assert cfg.out.startswith("runs/2") and cfg.out != TrainConfig().out
    assert dataclasses.replace(cfg, out=TrainConfig().out) == TrainConfig()


def test_the_documented_flags_keep_their_names_and_meaning():
    a = _parser().parse_args(
        [
            *("--rate", "25", "--window", "5.12", "--hop", "2.56", "--epochs", "3", "--batch-size", "32"),
            *("--lr", "0.01", "--lr-scaling", "sqrt", "--base-batch", "16", "--warmup-epochs", "0.5"),
            *("--weight-decay", "0", "--no-augment", "--accum-steps", "2", "--patience", "4", "--seed", "9"),
            *("--out", "runs/x", "--threads", "2", "--device", "cpu", "--engine", "horovod"),
            *("--backend", "gloo", "--resume", "--max-steps-per-epoch", "5", "--no-progress"),
            *("--model", "cnn1d", "--model-opt", "dropout=0", "--model-opt", "kind=wide", "--data", "csv:d"),
            *("--classes", "12", "--subjects", "1,2"),
        ]
    )
    cfg = config_from_args(a)
    assert (cfg.rate_hz, cfg.window_s, cfg.hop_s, cfg.epochs, cfg.batch_size) == (25, 5.12, 2.56, 3, 32)
    assert (cfg.lr, cfg.lr_scaling, cfg.base_batch, cfg.warmup_epochs) == (0.01, "sqrt", 16, 0.5)
    assert (cfg.weight_decay, cfg.augment, cfg.accum_steps, cfg.patience, cfg.seed) == (0, False, 2, 4, 9)
    assert (cfg.out, cfg.threads, cfg.device, cfg.engine, cfg.backend) == (
        "runs/x",
        2,
        "cpu",
        "horovod",
        "gloo",
    )
    assert (cfg.resume, cfg.max_steps_per_epoch, cfg.progress) == (True, 5, False)
    assert (cfg.model, cfg.model_config, cfg.data) == ("cnn1d", {"dropout": 0, "kind": "wide"}, "csv:d")
    assert (cfg.classes, cfg.subjects) == (12, ["1", "2"])


def test_dry_run_is_a_tiny_run():
    cfg = config_from_args(_parser().parse_args(["--dry-run", "--epochs", "9"]))
    assert (cfg.epochs, cfg.max_steps_per_epoch, cfg.warmup_epochs) == (1, 3, 0.0)
    assert cfg.subjects == DRY_RUN_SUBJECTS
    csv = config_from_args(_parser().parse_args(["--dry-run", "--data", "csv:x"]))
    assert csv.subjects is None


def test_unknown_engine_reaches_the_engine_that_names_the_valid_ones():
    assert config_from_args(_parser().parse_args(["--engine", "mpi"])).engine == "mpi"


def test_bench_worker_takes_the_training_flags_of_the_fields_it_uses():
    p = argparse.ArgumentParser()
    add_config_flags(p, worker.CONFIG_FIELDS, {"device": "cpu"})
    cfg = config_from_namespace(p.parse_args(["--lr", "0.5", "--max-grad-norm", "1", "--no-augment"]))
    assert (cfg.lr, cfg.max_grad_norm, cfg.augment, cfg.device) == (0.5, 1.0, False, "cpu")
    assert cfg.epochs == TrainConfig().epochs  # not a worker flag: its --epochs counts timed epochs
    with pytest.raises(ValueError, match="not TrainConfig fields"):
        add_config_flags(argparse.ArgumentParser(), ["per_worker_batch"])
