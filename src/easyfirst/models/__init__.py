"""Models: registry and builders (inputs ``(B, 1, mels, frames)`` for audio).

Every module of this package that registers a model (``@register_model``) is found by the
registry on its first lookup; nothing here needs to import it.
"""

from easyfirst.models.registry import MODELS, build_model, register_model

__all__ = ["MODELS", "build_model", "register_model"]
