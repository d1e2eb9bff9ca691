"""Model registry: ``name → class``.

Every model maps (batch, time, channels) floats to (batch, classes) logits.
"""

from harflow.models.registry import MODELS, build_model, model_names, register_model

__all__ = ["MODELS", "build_model", "model_names", "register_model"]
