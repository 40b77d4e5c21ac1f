"""Reading results folders back: manifest.json and kpis.json checked for shape, the scenario and
replicates of a run for `sim rerun`.

Every problem raises `ResultsError`, whose message is one line naming the file and what is
wrong (e.g. `results/x/manifest.json: events[2].date: expected a date YYYY-MM-DD (got 7)`),
for the command line to print with exit status 2. Nothing here imports matplotlib.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

SUMMARY_KEYS = ("mean", "p05", "p95")


class ResultsError(ValueError):
    """A results file that cannot be used; str() is a one-line message naming the file."""


def _fail(path: Path, where: str, what: str):
    raise ResultsError(f"{path}: {where}: {what}" if where else f"{path}: {what}")


def _kind(v) -> str:
    return {dict: "a table", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__)


def read_json(path: Path) -> object:
    """Parsed JSON of a file, or ResultsError (missing, unreadable, not JSON)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(path, "", "not found")
    except (OSError, UnicodeDecodeError) as e:
        _fail(path, "", f"cannot read ({getattr(e, 'strerror', None) or e})")
    except json.JSONDecodeError as e:
        _fail(path, "", f"not JSON (line {e.lineno}: {e.msg})")


def expect(path: Path, where: str, value, kind: type | tuple, optional: bool = False):
    """`value` if it is of `kind` (None allowed when `optional`), else ResultsError."""
    if value is None and optional:
        return None
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
    if not ok:
        want = {dict: "a table", list: "a list", str: "text", int: "a whole number"}.get(kind, "a number")
        _fail(path, where, f"expected {want} (got {_kind(value)})")
    return value


def number(path: Path, where: str, v) -> float:
    """A KPI value as written by sim.outputs.results.jsonable: number, null (NaN) or "inf"/"-inf"."""
    if v is None:
        return math.nan
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    return float(expect(path, where, v, (int, float)))


def check_manifest(path: Path, m) -> dict:
    """The manifest if its shape is right: a table, with a `scenario` table, and where present
    `events` (list of tables with an ISO `date`), `replicates` and `steps` (whole numbers),
    `versions` (table), `replicate_seeds` (list of tables with a whole `replicate`)."""
    expect(path, "", m, dict)
    sc = expect(path, "scenario", m.get("scenario"), dict)
    for key in ("countries", "commodities", "routes", "events"):
        expect(path, f"scenario.{key}", sc.get(key), dict, optional=True)
    for i, e in enumerate(expect(path, "events", m.get("events"), list, optional=True) or []):
        expect(path, f"events[{i}]", e, dict)
        d = expect(path, f"events[{i}].date", e.get("date"), str)
        try:
            dt.date.fromisoformat(d[:10])
        except ValueError:
            _fail(path, f"events[{i}].date", f"expected a date YYYY-MM-DD (got {d!r})")
    for key in ("replicates", "steps"):
        expect(path, key, m.get(key), int, optional=True)
    expect(path, "versions", m.get("versions"), dict, optional=True)
    for i, r in enumerate(expect(path, "replicate_seeds", m.get("replicate_seeds"), list, optional=True) or []):
        expect(path, f"replicate_seeds[{i}].replicate", expect(path, f"replicate_seeds[{i}]", r, dict)
               .get("replicate"), int)
    return m


def read_manifest(run_dir: Path) -> dict:
    """manifest.json of a run folder, shape-checked (see check_manifest)."""
    path = Path(run_dir) / "manifest.json"
    return check_manifest(path, read_json(path))


def read_kpis_json(path: Path) -> tuple[list[dict], dict[str, dict[str, float]]]:
    """kpis.json -> (per-replicate rows {replicate, kpi: float}, summary {kpi: {mean, p05, p95}}),
    shape-checked; NaN for null, inf for "inf"."""
    k = expect(path, "", read_json(path), dict)
    rows = []
    for i, row in enumerate(expect(path, "per_replicate", k.get("per_replicate", []), list)):
        expect(path, f"per_replicate[{i}]", row, dict)
        rows.append({name: (expect(path, f"per_replicate[{i}].replicate", v, int) if name == "replicate"
                            else number(path, f"per_replicate[{i}].{name}", v)) for name, v in row.items()})
    summary = {}
    for name, s in expect(path, "summary", k.get("summary", {}), dict).items():
        expect(path, f"summary.{name}", s, dict)
        summary[name] = {q: number(path, f"summary.{name}.{q}", s.get(q)) for q in SUMMARY_KEYS}
    return rows, summary


def kpis_equal(a: list[dict], b: list[dict]) -> bool:
    """Per-replicate KPI rows identical (same replicates, KPIs and values; NaN equals NaN)."""
    def same(x, y):
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
    return len(a) == len(b) and all(ra.keys() == rb.keys() and all(same(ra[k], rb[k]) for k in ra)
                                    for ra, rb in zip(a, b))


def rerun_spec(run_dir: Path):
    """(scenario, replicate indices, manifest) to run a results folder again exactly.

    The scenario is the resolved one the manifest recorded (seed, horizon and overrides
    included); the replicates are those recorded, failed ones included.
    """
    from pydantic import ValidationError

    from sim.scenario import Scenario, explain

    path = Path(run_dir) / "manifest.json"
    m = read_manifest(run_dir)
    try:
        scenario = Scenario.model_validate(m["scenario"])
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in ("scenario", *err["loc"]))
        wrote = m.get("versions", {}).get("sim", "?")
        from sim import __version__
        _fail(path, where, f"{explain(err)} (written by sim {wrote}; this is sim {__version__})")
    reps = {r["replicate"] for r in m.get("replicate_seeds") or []}
    reps |= {expect(path, "failed_replicates[].replicate", f.get("replicate"), int)
             for f in (m.get("failed_replicates") or []) if isinstance(f, dict)}
    if not reps:
        _fail(path, "replicate_seeds", "no replicates recorded")
    return scenario, sorted(reps), m
