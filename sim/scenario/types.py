"""Strict value types for scenario files.

TOML gives typed values; these types refuse the conversions pydantic would otherwise
make quietly (`true` as the number 1, `3.0` as an integer, an integer as a date, `inf`
or `nan` as a number), so that whatever `sim validate` accepts means what it says.
`runtime()` marks a field that scenario events may change during a run (MODEL.md §5.2,
step 1); every other field is read once, when the world is built.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict, StringConstraints

# Largest magnitude any number in a scenario may have: far beyond any physical quantity
# in the model (world output of these materials is < 1e6 t/yr; prices < 1e5 USD/kg), and
# small enough that products of a few such numbers stay finite in float64.
BIG = 1e12
# Smallest magnitude of a number other than 0: no subnormal number (e.g. 1e-320) reaches the
# model, and dividing a BIG number by it, or squaring that, stays finite in float64. Rounding
# residue such as 1 - 0.3 - 0.7 = 1e-16 is still accepted.
TINY = 1e-30


def _not_bool_or_int(v: Any) -> Any:
    if isinstance(v, (bool, int, float)):
        raise ValueError(f"expected a date YYYY-MM-DD (got {v!r})")
    return v


def _within_big(v: float) -> float:
    if abs(v) > BIG:
        raise ValueError(f"must be between -{BIG:g} and {BIG:g} (got {v:g})")
    if v != 0 and abs(v) < TINY:
        raise ValueError(f"must be 0 or at least {TINY:g} in size (got {v:.3g})")
    return v


def _int_to_float(v: Any) -> Any:
    """An integer too large for a float is out of range, not 'not a number'."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > BIG:
        raise ValueError(f"must be between -{BIG:g} and {BIG:g} (got {_big_int(v)})")
    return v


def _big_int(v: int) -> str:
    return f"{v:,}" if abs(v) < 10**30 else f"a number with {len(str(abs(v)))} digits"


Num = Annotated[float, Strict(), Field(allow_inf_nan=False), BeforeValidator(_int_to_float),
                AfterValidator(_within_big)]
"""A finite number, 0 or between 1e-30 and 1e12 in size; an integer is accepted, `true`, text and
`inf` are not."""
Int = Annotated[int, Strict()]
"""A whole number; `true` and `3.0` are refused."""
Bool = Annotated[bool, Strict()]
Date = Annotated[dt.date, BeforeValidator(_not_bool_or_int)]
"""A date (TOML `2024-12-03`, or the same as text in quotes); an integer is refused."""


# Characters that would break a one-line message, a table row or a chart label: control
# characters (line breaks, tabs, escape sequences) and Unicode line and paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(v: str) -> str:
    bad = CONTROL.search(v)
    if bad:
        raise ValueError(f"must be one line of text without control characters (found {bad.group()!r} "
                         f"at character {bad.start() + 1})")
    return v


def Text(max_length: int, **kw) -> Any:
    """One line of text (no line breaks or control characters) of at most `max_length` characters.

    It is shown in charts, tables and `sim list`; `$` and other characters that plotting
    libraries treat as markup are drawn literally (sim.plots.style)."""
    return Annotated[str, StringConstraints(max_length=max_length, **kw), AfterValidator(_one_line)]


def Range(ge: float | None = None, le: float | None = None, **kw) -> Any:
    """A Num within bounds, for the values of a table (e.g. t/yr per commodity)."""
    return Annotated[Num, Field(ge=ge, le=le, **kw)]


# Ids of table entries (countries, commodities, routes, ...): they appear in dotted keys,
# chart legends and the key columns of the time series.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
ID_RULE = "an id is 1 to 40 letters, digits, _ or -, starting with a letter or digit"


def runtime(**extra) -> dict:
    """json_schema_extra marking a field that events may change during a run."""
    return {"runtime": True, **extra}


def is_runtime(field) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("runtime"))
