"""Audio features (log-Mel) and batch augmentations."""

from easyfirst.audio.augment import (
    AUGMENTATIONS,
    Augmentation,
    Compose,
    Mixup,
    MixupResult,
    NoiseMix,
    RandomTimeShift,
    SpecAugment,
    build_augmentation,
    mixup_cross_entropy,
    register_augmentation,
    resolve_generator,
)
from easyfirst.audio.logmel import (
    LOGMEL_PRESETS,
    LogMel,
    log_mel_spectrogram,
    mel_filterbank,
    spectrogram_power,
)

__all__ = [
    "AUGMENTATIONS",
    "LOGMEL_PRESETS",
    "Augmentation",
    "Compose",
    "LogMel",
    "Mixup",
    "MixupResult",
    "NoiseMix",
    "RandomTimeShift",
    "SpecAugment",
    "build_augmentation",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mixup_cross_entropy",
    "register_augmentation",
    "resolve_generator",
    "spectrogram_power",
]
