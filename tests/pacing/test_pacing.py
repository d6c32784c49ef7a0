"""Pacing functions against the seed and aucurriculum reference fixtures (tests/fixtures)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from easyfirst.pacing import PACINGS, PacingFunction

torch.set_num_threads(1)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AUC_NAMES = {
    "Linear": "wu-linear",
    "Quadratic": "wu-quadratic",
    "Root": "wu-root",
    "Logarithmic": "wu-logarithmic",
    "Exponential": "wu-exponential",
    "OneStep": "wu-step",
}
SEED_NAMES = ["logarithmic", "root", "linear", "exponential"]


@pytest.fixture(scope="module")
def seed_fixture() -> dict[str, Any]:
    return json.loads((FIXTURES / "pacing_seed.json").read_text())


@pytest.fixture(scope="module")
def auc_fixture() -> dict[str, Any]:
    return json.loads((FIXTURES / "pacing_aucurriculum.json").read_text())


def test_registry_names() -> None:
    assert set(SEED_NAMES + list(AUC_NAMES.values())) <= set(PACINGS.names())
    assert {PacingFunction(n).family for n in SEED_NAMES} == {"paper"}
    assert {PacingFunction(n).family for n in AUC_NAMES.values()} == {"aucurriculum"}


def test_seed_fixture_exact_at_every_point(seed_fixture: dict[str, Any]) -> None:
    assert len(seed_fixture["cases"]) == 192
    checked = 0
    for case in seed_fixture["cases"]:
        pacing = PacingFunction(case["pacing"], start_fraction=case["b"], full_at=case["a"])
        got = [pacing.size_at(t, case["T"], case["N"]) for t in range(case["T"] + 1)]
        assert got == case["sizes"], case["pacing"]
        checked += len(got)
    assert checked == 100_992


def test_seed_code_order_via_progress(seed_fixture: dict[str, Any]) -> None:
    """``size(t / T, N)`` follows the seed code's ``(t/T)/a`` order, overrides included."""
    overrides = {
        (d["pacing"], d["N"], d["b"], d["a"], d["T"], d["t"]): d["size_seed_code_order"]
        for d in seed_fixture["seed_code_order_variant"]["differences"]
    }
    assert len(overrides) == 163
    for case in seed_fixture["cases"]:
        pacing = PacingFunction(case["pacing"], start_fraction=case["b"], full_at=case["a"])
        key = (case["pacing"], case["N"], case["b"], case["a"], case["T"])
        for t, size in enumerate(case["sizes"]):
            want = overrides.get((*key, t), size)
            assert pacing.size(t / case["T"], case["N"]) == want


def test_aucurriculum_fixture_exact_at_every_point(auc_fixture: dict[str, Any]) -> None:
    assert len(auc_fixture["cases"]) == 288
    checked = 0
    for case in auc_fixture["cases"]:
        pacing = PacingFunction(
            AUC_NAMES[case["pacing"]],
            start_fraction=case["initial_size"],
            full_at=case["final_iteration"],
        )
        total, n = case["total_iterations"], case["dataset_size"]
        got = [pacing.size_at(t, total, n) for t in range(total + 1)]
        assert got == case["sizes"], case["pacing"]
        checked += len(got)
    assert checked == 151_488


def test_aucurriculum_edge_cases(auc_fixture: dict[str, Any]) -> None:
    for edge in auc_fixture["edge_cases"]:
        name = AUC_NAMES[edge["pacing"]]
        b, a = edge["initial_size"], edge["final_iteration"]
        if "constructor_raises" in edge or a == 0:
            # aucurriculum returns N (or divides by zero) at a = 0; easyfirst rejects it.
            with pytest.raises(ValueError, match=r"Expected .*got"):
                PacingFunction(name, start_fraction=b, full_at=a)
            continue
        pacing = PacingFunction(name, start_fraction=b, full_at=a)
        for t, size in edge["sizes_at"].items():
            got = pacing.size_at(int(t), edge["total_iterations"], edge["dataset_size"])
            assert got == max(1, size)  # easyfirst's pool never drops below one sample


@pytest.mark.parametrize("name", PACINGS.names())
def test_fraction_and_size_shape(name: str) -> None:
    pacing = PacingFunction(name, start_fraction=0.2, full_at=0.5)
    fractions = [pacing.fraction(i / 100) for i in range(101)]
    assert fractions[0] == pytest.approx(0.2)
    assert all(0.2 - 1e-12 <= f <= 1.0 for f in fractions)
    assert all(x <= y + 1e-12 for x, y in zip(fractions, fractions[1:], strict=False))
    assert pacing.fraction(0.5) == pytest.approx(1.0, abs=1e-3)
    assert fractions[-1] == 1.0
    sizes = [pacing.size(i / 100, 1000) for i in range(101)]
    assert sizes == sorted(sizes)
    assert sizes[-1] == 1000
    for i, size in enumerate(sizes):  # the float fraction and the int size agree
        assert abs(size - fractions[i] * 1000) <= 1.0 + 1e-9


@pytest.mark.parametrize("name", PACINGS.names())
def test_clamping_and_minimum(name: str) -> None:
    pacing = PacingFunction(name, start_fraction=0.3, full_at=0.8)
    assert pacing.size(-1.0, 100) == pacing.size(0.0, 100)
    assert pacing.size(7.0, 100) == pacing.size(1.0, 100) == 100
    assert pacing.size_at(-3, 10, 100) == pacing.size_at(0, 10, 100)
    assert pacing.size_at(15, 10, 100) == 100
    assert pacing.fraction(-2.0) == pacing.fraction(0.0)
    assert PacingFunction(name, start_fraction=0.001, full_at=0.5).size(0.0, 10) == 1
    assert PacingFunction(name, start_fraction=1.0, full_at=0.5).size(0.0, 10) == 10


def test_by_epoch_and_by_step_agree() -> None:
    pacing = PacingFunction("root", start_fraction=0.2, full_at=0.5)
    epochs, steps_per_epoch = 10, 7
    for e in range(epochs):
        by_epoch = pacing.size_at(e, epochs, 500)
        by_step = pacing.size_at(e * steps_per_epoch, epochs * steps_per_epoch, 500)
        assert by_epoch == by_step


@pytest.mark.parametrize("b", [0.0, -0.1, 1.5, math.nan, True, "0.2"])
def test_start_fraction_out_of_range(b: Any) -> None:
    with pytest.raises(ValueError, match=r"Expected start_fraction .* in \(0, 1\]; got .*Pass"):
        PacingFunction("linear", start_fraction=b)


def test_full_at_zero_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"full_at .* got 0, .*divides by zero.*Pass e\.g\."):
        PacingFunction("wu-exponential", start_fraction=0.2, full_at=0)
    with pytest.raises(ValueError, match=r"Expected full_at .* in \(0, 1\]; got 1\.5"):
        PacingFunction("linear", full_at=1.5)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown pacing 'lgo'\. Available: exponential, .*"):
        PacingFunction("lgo")
    with pytest.raises(KeyError, match="wu-step"):
        PacingFunction("lgo")


def test_bad_arguments() -> None:
    pacing = PacingFunction("linear")
    with pytest.raises(ValueError, match=r"Expected num_samples to be an int >= 1; got 0"):
        pacing.size(0.5, 0)
    with pytest.raises(ValueError, match=r"Expected total .* > 0; got 0"):
        pacing.size_at(0, 0, 10)
    with pytest.raises(ValueError, match=r"Expected progress to be a finite number; got nan"):
        pacing.size(math.nan, 10)


def test_a_shape_is_one_decorated_function() -> None:
    from easyfirst.pacing import register_pacing

    @register_pacing("test-cubic", family="test")
    def cubic(p: float) -> float:
        """p cubed."""
        return p**3

    try:
        pacing = PacingFunction("test-cubic", start_fraction=0.2, full_at=0.5)
        assert pacing.family == "test" and PACINGS.get("test-cubic").description == "p cubed."
        assert pacing.fraction(0.25) == pytest.approx(0.2 + 0.8 * 0.125)
        assert pacing.size_at(5, 20, 1000) == int((0.2 + 0.8 * 0.5**3) * 1000)
        assert pacing.size(0.5, 1000) == 1000
    finally:
        PACINGS.unregister("test-cubic")
