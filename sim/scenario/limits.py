"""Size limits of a scenario: how many entries each table may have, and the memory one
replicate needs, so that whatever `sim validate` accepts fits in a machine and runs.

`check_size(s)` returns (dotted key, problem) pairs for `check_references`. The memory
estimate follows what sim.model allocates per replicate: the smugglers' belief arrays
(smugglers x belief lanes x methods), the networks' arrays, the shipping pipeline and
the recorded time series (steps x values per step, in arrays and in the long table).
Its coefficients were measured on antimony_2024 (about 1.5 KB per smuggler with 11
lanes, 115 bytes per row of the long table) and round up.
"""

from __future__ import annotations

from sim.outputs.results import fmt_bytes

# Entries per table at most: beyond any real world (there are about 250 countries), and
# small enough that building the world's arrays stays quick.
MAX_ENTRIES = {"commodities": 50, "countries": 250, "suppliers": 1000, "routes": 500,
               "controls": 500, "events": 500, "customs": 250}
MAX_REPLICATE_BYTES = 4 << 30  # memory one replicate may need (each worker process holds one)

_METHODS = 6           # concealment methods (schema.METHODS)
_SMUGGLER_BYTES = 600  # per smuggler besides its beliefs: Mesa agent, state arrays
_ROW_BYTES = 250       # per row of the long time series while it is built (115 B kept, copies on the way)


def _dimensions(s) -> dict[str, int]:
    """Array sizes of the world sim.model.world builds from `s` (checkpoints, belief lanes, ...)."""
    origin = s.origin
    cps, lanes = set(), set()
    for r in s.routes.values():
        if r.via:
            seq = [((origin, "x"), r.via), ((r.via, "m"), r.via), ((r.via, "x"), r.destination),
                   ((r.destination, "m"), r.destination)]
        else:
            seq = [((origin, "x"), r.destination), ((r.destination, "m"), r.destination)]
        cps.update(cp for cp, _ in seq)
        lanes.update(seq)
    return {"K": len(s.commodities), "C": len(s.countries), "S": len(s.suppliers), "R": len(s.routes),
            "M": 1 + len(s.ids("destination")), "H": len(s.ids("transit")), "NCP": len(cps), "lanes": len(lanes)}


def memory_parts(s, steps: int | None = None) -> dict[str, float]:
    """Estimated bytes one replicate of `s` needs, by part (smugglers, networks, time series, world)."""
    d = _dimensions(s)
    K, C, S, R, M, H, NCP, NM = d["K"], d["C"], d["S"], d["R"], d["M"], d["H"], d["NCP"], _METHODS
    T = s.steps if steps is None else steps
    sm = s.smugglers
    smugglers = (sm.initial + sm.pool) * (d["lanes"] * NM * 16 + _SMUGGLER_BYTES)
    networks = sm.networks * (M * K * 9 + NCP * 8 + 2 * NCP * NM * 8)
    per_step = (13 * M * K + 3 * K + S * M + 2 * S + R * K + NM * K + R * NM + NCP * (4 + 2 * NM + K)
                + H * K + 10)
    series = T * per_step * (8 + _ROW_BYTES)
    cells = NCP * 6 * C + K * R * 4 * NM
    world = cells * 80 + (52 + 106) * S * M * 8 + T * S * 8 + s.exporters.count * K * 32
    return {"smugglers": smugglers, "networks": networks, "time series": series, "world": world,
            "_lanes": d["lanes"], "_per_step": per_step, "_T": T}


def memory_problem(s, steps: int | None = None) -> tuple[str, str] | None:
    """(key, message) when one replicate would need more than MAX_REPLICATE_BYTES, else None."""
    parts = memory_parts(s, steps)
    total = sum(v for k, v in parts.items() if not k.startswith("_"))
    if total <= MAX_REPLICATE_BYTES:
        return None
    sm = s.smugglers
    what = {
        "smugglers": ("smugglers", (f"{sm.initial + sm.pool:,} smugglers (initial + pool) x {parts['_lanes']} "
                                    f"belief lanes x {_METHODS} methods need {fmt_bytes(parts['smugglers'])}")),
        "networks": ("smugglers.networks", f"{sm.networks:,} networks need {fmt_bytes(parts['networks'])}"),
        "time series": ("steps", (f"{parts['_T']:,} steps x {parts['_per_step']:,} recorded values per step need "
                                  f"{fmt_bytes(parts['time series'])}")),
        "world": ("countries", f"the world's arrays (countries, routes, suppliers) need {fmt_bytes(parts['world'])}"),
    }
    biggest = max(what, key=lambda k: parts[k])
    key, detail = what[biggest]
    return key, (f"one replicate would need about {fmt_bytes(total)} of memory ({detail}); the limit is "
                 f"{fmt_bytes(MAX_REPLICATE_BYTES)} per replicate: use fewer smugglers, networks, routes or steps")


def check_size(s) -> list[tuple[str, str]]:
    """Tables over their MAX_ENTRIES, then (if the tables are within limits) the memory estimate."""
    errs = [(table, f"at most {n:,} entries (got {len(getattr(s, table)):,})")
            for table, n in MAX_ENTRIES.items() if len(getattr(s, table)) > n]
    if not errs and len(s.ids("origin")) == 1:
        problem = memory_problem(s)
        if problem:
            errs.append(problem)
    return errs
