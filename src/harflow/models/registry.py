"""Name → model class. A model module registers itself; adding a model is one file plus one import line."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

MODELS: dict[str, type[nn.Module]] = {}
EPOCHS: dict[str, int] = {}  # each model's default training length (`harflow train` without --epochs)
_MODULES = ("lstm", "deepconvlstm", "cnn1d")


def register_model(name: str, epochs: int = 40) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"model {name}: class {cls.__name__} needs a dataclass attribute `Config`")
        MODELS[name], EPOCHS[name] = cls, epochs
        return cls

    return deco


def _load_all() -> None:
    for m in _MODULES:
        importlib.import_module(f"harflow.models.{m}")


def model_names() -> list[str]:
    _load_all()
    return sorted(MODELS)


def default_epochs(name: str) -> int:
    _load_all()
    if name not in EPOCHS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return EPOCHS[name]


def model_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    _load_all()
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    cfg_cls = MODELS[name].Config  # type: ignore[attr-defined]
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = set(overrides or {}) - fields
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {sorted(unknown)}; options: {sorted(fields)}")
    return cfg_cls(**(overrides or {}))


def build_model(
    name: str, in_channels: int, num_classes: int, window: int, config: dict[str, Any] | None = None
) -> nn.Module:
    """Instantiate model ``name``; ``config`` holds overrides of its ``Config`` dataclass."""
    cfg = model_config(name, config)
    return MODELS[name](in_channels, num_classes, window, cfg)
