"""The distance of a parameter set's runs to the record, for pyabc: the largest band cost.

Each calibration target's cost is `Band.cost` (sim/calibration/targets.py): 0 at the value the
record states, 1 at the band's edge, linear beyond. The largest over the targets is below 1
exactly when every target lies inside its band; a NaN value (a failed run) costs infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyabc import Distance

from sim.calibration.targets import Fact


class BandDistance(Distance):
    """Largest band cost over the targets (dimensionless; < 1: every target inside its band)."""

    def __init__(self, facts: Sequence[Fact]):
        super().__init__()
        self.bands = {f.id: f.band for f in facts}

    def __call__(self, x, x_0=None, t=None, par=None) -> float:
        return max(b.cost(x.get(i, math.nan)) for i, b in self.bands.items())

    def get_config(self) -> dict:
        return {"name": "largest band cost", "bands": {i: [b.lo, b.hi, b.target] for i, b in self.bands.items()}}
