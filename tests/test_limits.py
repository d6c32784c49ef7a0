"""The declared ranges of a run's numbers: the API and the command line refuse alike."""

from __future__ import annotations

import argparse

import pytest

from easyfirst.cli.options import bounded
from easyfirst.limits import MAX_EPOCHS, MAX_SEED, RANGES, check_range
from easyfirst.training.config import RunConfig

BAD = [("lr", ["nan", "inf", "-inf", "0", "-1", "1e31"]), ("momentum", ["nan", "-0.1", "1.5"]),
       ("weight_decay", ["nan", "-1", "inf"]), ("epochs", ["0", "1.5", str(MAX_EPOCHS + 1)]),
       ("batch_size", ["0", "-3"]), ("seed", ["-1", str(MAX_SEED + 1), "99999999999999999999"])]


@pytest.mark.parametrize(("name", "text"), [(n, t) for n, texts in BAD for t in texts])
def test_bad_numbers_are_refused_by_the_option_and_the_config(name, text):
    with pytest.raises(argparse.ArgumentTypeError, match=rf"^expected {RANGES[name].text()}; "
                       rf"got '{text}'$".replace("+", r"\+")):
        bounded(name)(text)
    value = float(text) if not RANGES[name].integer or "." in text else int(text)
    with pytest.raises(ValueError, match=rf"^Expected {name} .* got .*\. Pass {name} in that "
                       r"range \(nothing was written\)\.$"):
        RunConfig(**{name: value})


@pytest.mark.parametrize(("name", "text"), [("lr", "1e30"), ("momentum", "1"), ("epochs", "32767"),
                                            ("seed", str(MAX_SEED)), ("weight_decay", "0")])
def test_the_ends_of_each_range_are_accepted(name, text):
    value = bounded(name)(text)
    check_range(name, value)
    assert getattr(RunConfig(**{name: value}), name) == value


def test_booleans_are_not_numbers():
    with pytest.raises(ValueError, match=r"Expected epochs >= 1 and <= 32767 \(a whole number\)"
                       r"; got True"):
        RunConfig(epochs=True)
