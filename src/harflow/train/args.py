"""Command-line flags of ``harflow train`` / ``python -m harflow.train`` ↔ :class:`TrainConfig`, generated.

Each :class:`TrainConfig` field becomes one flag (its metadata has the help text and, where it is not
``--field-name``, the flag), and a parsed namespace becomes a config field by field, so the two cannot drift
apart. From the field's type: ``Literal`` → ``choices``; ``bool`` → ``--x/--no-x``; ``list[str]`` → one
comma-separated value; ``dict`` → ``KEY=VALUE``, repeatable (``--model-opt``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any

from harflow.train.config import TrainConfig

DRY_RUN_SUBJECTS = ["1", "3", "5", "2"]  # two train, one val, one test subject: seconds, not minutes


def _model_opt(s: str) -> tuple[str, Any]:
    key, sep, value = s.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--model-opt expects KEY=VALUE, got {s!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _comma_list(s: str) -> list[str] | None:
    return s.split(",") if s else None


def flag_name(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rest = [t for t in typing.get_args(tp) if t is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def _argparse_kwargs(f: dataclasses.Field, tp: Any) -> dict[str, Any]:
    if "help" not in f.metadata:
        raise TypeError(f"TrainConfig.{f.name} has no flag: declare it with harflow.train.config.opt(...)")
    if "cli_default" in f.metadata:
        default = f.metadata["cli_default"]
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = f.default
    kw: dict[str, Any] = {"dest": f.name, "default": default, "help": f.metadata["help"]}
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if tp is bool:
        kw["action"] = argparse.BooleanOptionalAction
    elif origin is typing.Literal:
        values = typing.get_args(tp)
        kw["type"] = type(values[0])
        if f.metadata.get("choices", True):
            kw["choices"] = values
    elif origin is list:
        kw.update(type=_comma_list, metavar="A,B,…")
    elif origin is dict:
        kw.update(action="append", type=_model_opt, metavar="KEY=VALUE", default=list(default.items()))
    elif tp in (int, float, str):
        kw["type"] = tp
    else:
        raise TypeError(f"TrainConfig.{f.name}: no flag type for {tp!r}")
    return kw


def add_config_flags(
    p: argparse.ArgumentParser | argparse._ArgumentGroup,
    only: Collection[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add a flag for every :class:`TrainConfig` field (or the fields named in ``only``); ``defaults``
    replaces a flag's default (a tool whose usual value differs from training's)."""
    hints = typing.get_type_hints(TrainConfig)
    fields = dataclasses.fields(TrainConfig)
    unknown = set(only or ()) - {f.name for f in fields}
    if unknown:
        raise ValueError(f"not TrainConfig fields: {sorted(unknown)}")
    for f in fields:
        if only is not None and f.name not in only:
            continue
        kw = _argparse_kwargs(f, hints[f.name])
        if defaults and f.name in defaults:
            kw["default"] = defaults[f.name]
        p.add_argument(flag_name(f), **kw)


def config_from_namespace(a: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from the fields the namespace has flags for (the others keep their defaults),
    then ``overrides``."""
    hints = typing.get_type_hints(TrainConfig)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        if hasattr(a, f.name):
            v = getattr(a, f.name)
            is_dict = typing.get_origin(_strip_optional(hints[f.name])) is dict
            values[f.name] = dict(v) if is_dict and v is not None else v  # KEY=VALUE pairs → dict
    return TrainConfig(**{**values, **overrides})


def add_train_args(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="tiny run: 4 HAPT subjects, 1 epoch, 3 steps — checks the whole path in seconds",
    )


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    cfg = config_from_namespace(a, out=a.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
    if a.dry_run:
        cfg.epochs, cfg.max_steps_per_epoch, cfg.warmup_epochs = 1, 3, 0.0
        if cfg.data == "hapt" and cfg.subjects is None:
            cfg.subjects = DRY_RUN_SUBJECTS
    return cfg
