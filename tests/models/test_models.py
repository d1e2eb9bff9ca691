import dataclasses

import pytest
import torch

from harflow.models import build_model, model_names
from harflow.models.registry import MODELS, default_epochs, model_config


def test_registry_has_the_three_models():
    assert {"lstm", "deepconvlstm", "cnn1d"} <= set(model_names())


def test_each_model_has_its_default_training_length():
    assert (default_epochs("lstm"), default_epochs("cnn1d"), default_epochs("deepconvlstm")) == (40, 40, 20)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        default_epochs("nope")


@pytest.mark.parametrize("name", ["lstm", "deepconvlstm", "cnn1d"])
@pytest.mark.parametrize("channels", [3, 6])
def test_same_contract(name, channels):
    m = build_model(name, channels, 12, 128)
    out = m(torch.randn(5, 128, channels))
    assert out.shape == (5, 12)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    assert dataclasses.is_dataclass(MODELS[name].Config)


def test_lstm_options():
    m = build_model(
        "lstm", 6, 6, 128, {"hidden_size": 16, "num_layers": 3, "bidirectional": False, "frame": 1}
    )
    assert m.lstm.hidden_size == 16 and m.lstm.num_layers == 3 and not m.lstm.bidirectional
    assert m.lstm.input_size == 6
    assert m(torch.randn(2, 128, 6)).shape == (2, 6)


def test_unknown_model_and_option_are_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'gru'"):
        build_model("gru", 6, 6, 128)
    with pytest.raises(ValueError, match=r"no option\(s\) \['hidden'\]"):
        model_config("lstm", {"hidden": 3})
    with pytest.raises(ValueError, match="not a multiple of frame"):
        build_model("lstm", 6, 6, 130)
