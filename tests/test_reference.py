"""The compiled core (sim.model.kernels) against the plain-Python reference (sim.model.reference).

Both cores run the same scenario in lockstep; after every step the whole model state
(smuggler arrays, prices, stocks, pipelines, customs' memory, the random generator) and
the recorded outputs must agree, and both must keep the invariants: no negative stock,
price, shipment or (outside bankruptcy) capital, and mass balance (MODEL.md §7, V6).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from sim.model import kernels as kr
from sim.model.kpis import compute_kpis
from sim.model.model import SmugglingModel
from sim.scenario.schema import Scenario
from tests.worlds import BAN_WORLD, worlds

# Floats are compared to rtol 1e-12, not for exact equality: the reference calls CPython's
# `math.exp` and `**` (the C library's exp/pow) while numba compiles `math.exp` and `**` to
# LLVM intrinsics, which may be inlined or vectorised differently and can differ from libm in
# the last bit; the reference also writes some formulas in MODEL.md's algebraic form (expected
# utility, lottery variance) rather than the kernel's. Sums run in the same agent order, so
# differences stay at rounding level. ATOL covers quantities that should be 0 but come out as
# a rounding residue (USD, t, USD/kg): 1e-9 of any of them is far below anything meaningful.
RTOL, ATOL = 1e-12, 1e-9
MASS_RTOL = 1e-9


def same(x, y, what: str) -> None:
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape, f"{what}: shapes {x.shape} != {y.shape}"
    if x.dtype.kind in "biuO" or y.dtype.kind in "biuO":
        assert np.array_equal(x, y), f"{what}: {x} != {y}"
    else:
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL, err_msg=what)


def compare_state(a: SmugglingModel, b: SmugglingModel) -> None:
    """Every number the model carries from step to step, and the recorder's rows so far."""
    for name in a.sm.__dataclass_fields__:
        same(getattr(a.sm, name), getattr(b.sm, name), f"step {a.t}: sm.{name}")
    for name, value in vars(a).items():
        other = getattr(b, name)
        if isinstance(value, np.ndarray) or isinstance(value, (int, float)) and not isinstance(value, bool):
            same(value, other, f"step {a.t}: model.{name}")
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            for key in value:
                same(value[key], other[key], f"step {a.t}: model.{name}[{key}]")
    for name, arr in a.recorder.a.items():
        same(arr[:a.t], b.recorder.a[name][:b.t], f"step {a.t}: recorder.{name}")
    # the reference consumes no random numbers of its own: both generators are at the same point
    assert a.rng.bit_generator.state == b.rng.bit_generator.state, f"step {a.t}: random streams diverged"


def check_invariants(m: SmugglingModel) -> None:
    """(b) nothing negative that cannot be, (c) mass balance per commodity, after step m.t - 1."""
    sm, t = m.sm, m.t - 1
    solvent = (sm.status != kr.BANKRUPT) & (sm.status != kr.JAILED)   # jailed: bankrupt on release
    assert np.all(sm.capital[solvent] >= 0.0), f"step {t}: negative capital {sm.capital[solvent].min()} USD"
    assert np.all(sm.ship_q >= 0.0) and np.all(sm.hold_q >= 0.0), f"step {t}: negative shipment"
    assert np.all(m.inventory >= 0.0), f"step {t}: negative inventory {m.inventory.min()} t"
    assert np.all(m.pipe >= 0.0), f"step {t}: negative legal goods in transit"
    assert np.all(m.price > 0.0) and np.all(m.gray_price > 0.0), f"step {t}: price not positive"
    a = m.recorder.a
    for name in ("departed", "illicit_delivered", "seized_t", "crossing_t", "gray_sold"):
        assert np.all(a[name][t] >= 0.0), f"step {t}: negative {name}"
    sources, uses = m.mass_balance()
    assert np.all(np.abs(sources - uses) <= MASS_RTOL * np.maximum(np.abs(sources), np.abs(uses))), \
        f"step {t}: mass balance off: sources {sources} t, uses {uses} t"


def kpis_equal(x: dict, y: dict) -> None:
    assert x.keys() == y.keys()
    for key in x:
        if math.isnan(x[key]) or math.isnan(y[key]):
            assert math.isnan(x[key]) and math.isnan(y[key]), f"KPI {key}: {x[key]} != {y[key]}"
        else:
            assert x[key] == pytest.approx(y[key], rel=RTOL, abs=ATOL), f"KPI {key}: {x[key]} != {y[key]}"


def run_both(scenario: Scenario, replicate: int = 0) -> tuple[SmugglingModel, SmugglingModel]:
    """Run both cores in lockstep, comparing state and checking invariants after every step."""
    fast = SmugglingModel(scenario, replicate, core="numba")
    slow = SmugglingModel(scenario, replicate, core="reference")
    compare_state(fast, slow)
    while fast.running:
        fast.step()
        slow.step()
        compare_state(fast, slow)
        check_invariants(fast)
        check_invariants(slow)
    assert not slow.running
    kpis_equal(compute_kpis(fast), compute_kpis(slow))
    pd.testing.assert_frame_equal(fast.recorder.timeseries(), slow.recorder.timeseries(),
                                  check_exact=False, rtol=RTOL, atol=ATOL)
    return fast, slow


def test_generated_worlds_agree():
    """(a)-(c) on 30 generated worlds; and a good share of them really smuggle, so the
    agreement covers choice, checkpoints, seizures and gray sales, not idle worlds."""
    seen = []

    # derandomized: the same 30 worlds every run; no shrinking (it reruns both cores hundreds of
    # times): a failure prints the whole generated scenario instead
    @settings(max_examples=30, deadline=None, derandomize=True, database=None, phases=(Phase.generate,),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(worlds())
    def check(scenario):
        fast, _ = run_both(scenario)
        a = fast.recorder.a
        seen.append((a["departed"].sum(), a["illicit_delivered"].sum(), a["seizures"].sum()))

    check()
    departed, delivered, seizures = np.array(seen).T
    assert len(seen) == 30
    assert np.count_nonzero(departed) >= 10, f"only {np.count_nonzero(departed)} of 30 worlds smuggled"
    # seizures are rarer in small generated worlds (5 of the 30 on CI's machine)
    assert np.count_nonzero(delivered) >= 8 and np.count_nonzero(seizures) >= 4


def test_ban_world_smuggles_and_agrees():
    """A fixed world under a ban: both cores smuggle, seize, deliver, arrest, bankrupt, identically."""
    fast, slow = run_both(Scenario.model_validate(BAN_WORLD))
    for m in (fast, slow):
        a = m.recorder.a
        assert a["departed"].sum() > 0 and a["illicit_delivered"].sum() > 0
        assert a["seizures"].sum() > 0 and a["arrests"].sum() > 0 and a["jailed"].max() > 0
        assert a["bankrupt"].max() > 0 and a["refused"].sum() >= 0
        assert a["gray_sold"][:, 1].sum() > 0 and a["entries"].sum() > 0
        assert (m.sm.status == kr.SHIPPING).any() and m.tips > 0
        assert a["seizures"][:, m.layout.cp_names.index("TH:import")].sum() > 0
        th = m.layout.transits.index("TH")   # its imports surge past the trade_anomaly threshold (1.5)
        assert a["transit_imports"][:, th].sum(axis=1).max() > 1.5 * m.params.hub_baseline[th].sum()


def test_unknown_core_is_refused():
    with pytest.raises(ValueError, match="core"):
        SmugglingModel(Scenario.model_validate(BAN_WORLD), 0, core="fortran")
