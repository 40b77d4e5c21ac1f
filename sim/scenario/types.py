"""Strict value types for scenario files.

TOML gives typed values; these types refuse the conversions pydantic would otherwise
make quietly (`true` as the number 1, `3.0` as an integer, an integer as a date, `inf`
or `nan` as a number), so that whatever `sim validate` accepts means what it says.
`runtime()` marks a field that scenario events may change during a run (MODEL.md §5.2,
step 1); every other field is read once, when the world is built.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict

# Largest magnitude any number in a scenario may have: far beyond any physical quantity
# in the model (world output of these materials is < 1e6 t/yr; prices < 1e5 USD/kg), and
# small enough that products of a few such numbers stay finite in float64.
BIG = 1e12


def _not_bool_or_int(v: Any) -> Any:
    if isinstance(v, (bool, int, float)):
        raise ValueError(f"expected a date YYYY-MM-DD (got {v!r})")
    return v


def _within_big(v: float) -> float:
    if abs(v) > BIG:
        raise ValueError(f"must be between -{BIG:g} and {BIG:g} (got {v:g})")
    return v


Num = Annotated[float, Strict(), Field(allow_inf_nan=False), AfterValidator(_within_big)]
"""A finite number; an integer is accepted, `true`, text and `inf` are not."""
Int = Annotated[int, Strict()]
"""A whole number; `true` and `3.0` are refused."""
Bool = Annotated[bool, Strict()]
Date = Annotated[dt.date, BeforeValidator(_not_bool_or_int)]
"""A date (TOML `2024-12-03`, or the same as text in quotes); an integer is refused."""


def runtime(**extra) -> dict:
    """json_schema_extra marking a field that events may change during a run."""
    return {"runtime": True, **extra}


def is_runtime(field) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("runtime"))
