"""Declared limits of config values and their check (inr_recover/config/schema.py): one-line messages naming the value
and its limit, and classes checked against their own signature and annotations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import pytest

from inr_recover.config.schema import Interval, Rate, check, check_node, describe
from inr_recover.errors import UserError


def test_declared_limits():
    Unit = Annotated[float, Interval(0, 1, open_hi=True)]
    check("r", 0.0, Unit)
    for bad in (1.0, -0.1, float("nan"), True, "0.5"):
        with pytest.raises(UserError, match=r"^r=.* is not a finite number in \[0, 1\)$"):
            check("r", bad, Unit)
    check("n", None, int | None)
    with pytest.raises(UserError, match="n=2.0 is not an integer or null"):
        check("n", 2.0, int | None)
    with pytest.raises(UserError, match=r"k.1='c' is not one of 'a', 'b'"):
        check("k", ["a", "c"], list[Literal["a", "b"]])
    assert describe(Annotated[int, Interval(1)]) == "an integer >= 1"


@dataclass
class Pulse:
    """A degradation another branch might add: its declarations are all the validator needs."""

    rate: Rate
    width: int = 1


def test_unknown_target_parameters_validate_themselves():
    """A class the validator has never heard of is checked against its own signature and annotations."""
    check_node("degrade.pulse", {"_target_": "test_schema.Pulse", "rate": 0.5, "width": 3})
    with pytest.raises(
        UserError, match=r"degrade.pulse.colour is not an option of test_schema.Pulse \(its options: rate, width\)"
    ):
        check_node("degrade.pulse", {"_target_": "test_schema.Pulse", "colour": 3})
    with pytest.raises(UserError, match=r"degrade.pulse.rate=2 is not a finite number in \[0, 1\]"):
        check_node("degrade.pulse", {"_target_": "test_schema.Pulse", "rate": 2})
    with pytest.raises(UserError, match="x._target_='nowhere.Thing' cannot be imported"):
        check_node("x", {"_target_": "nowhere.Thing"})
