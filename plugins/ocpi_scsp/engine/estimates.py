"""Battery capacity, energy and charge-time estimates from meter samples (seed 004 §3.4.1, §5.2).

OCPP 1.6 stations report the SoC in percent but not the battery size; the capacity follows from
how much energy a few percent of SoC took. Seed 004's estimators, with two corrections:

- eq. 3.1 (moving average of ΔE/ΔSoC over pairs ``n`` samples apart) divides by zero when the two
  SoC readings are equal, which the seed names as its main source of error; such pairs (and
  pairs whose SoC or energy did not increase) carry no information and are skipped;
- eq. 3.2 divides the capacity by the SoC gap; the energy needed is the capacity *times* the
  gap: ``E = C · (SoC_target - SoC_start)``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple


class MeterSample(NamedTuple):
    """One MeterValues reading: SoC (%), Energy.Active.Import.Register (Wh), Power (W)."""

    soc_pct: float
    energy_wh: float
    power_w: float | None = None


def estimate_battery_capacity_wh(
    samples: Sequence[MeterSample],
    lag: int = 2,
    min_soc_step_pct: float = 0.5,
) -> float | None:
    """Seed 004 eq. 3.1: mean of ``(E[i+n] - E[i]) / (SoC[i+n] - SoC[i])`` over the samples.

    ``lag`` is the seed's ``n`` (window size minus one; the seed used N = 5 samples, n = 2). A
    pair whose SoC rose by less than ``min_soc_step_pct`` is skipped: stations report whole
    percents, so a smaller step is rounding, and dividing by it yields a wild (or infinite)
    capacity. ``None`` when no pair is usable, so the caller asks the driver instead of guessing.
    """
    if lag < 1:
        raise ValueError(f"lag must be at least 1, got {lag}")
    if min_soc_step_pct <= 0:
        raise ValueError("min_soc_step_pct must be positive (equal SoC values divide by zero)")
    for sample in samples:
        if not 0 <= sample.soc_pct <= 100 or not math.isfinite(sample.energy_wh):
            raise ValueError(f"implausible meter sample {sample}")
    ratios = []
    for before, after in zip(samples, samples[lag:], strict=False):
        soc_step = after.soc_pct - before.soc_pct
        energy_step = after.energy_wh - before.energy_wh
        if soc_step >= min_soc_step_pct and energy_step > 0:
            ratios.append(energy_step / soc_step * 100)
    return statistics.fmean(ratios) if ratios else None


def estimate_energy_needed_wh(
    capacity_wh: float, start_soc_pct: float, target_soc_pct: float
) -> float:
    """Seed 004 eq. 3.2, corrected: capacity times the SoC still to gain (0 if already there)."""
    if capacity_wh <= 0:
        raise ValueError(f"capacity must be positive, got {capacity_wh}")
    for name, value in (("start", start_soc_pct), ("target", target_soc_pct)):
        if not 0 <= value <= 100:
            raise ValueError(f"{name} SoC must be between 0 and 100 %, got {value}")
    return capacity_wh * max(0.0, target_soc_pct - start_soc_pct) / 100


def median_power_w(samples: Sequence[MeterSample]) -> float | None:
    """The seed's ``mid(Power)``: the median, because the first readings of a session ramp up."""
    powers = [s.power_w for s in samples if s.power_w is not None]
    return statistics.median(powers) if powers else None


def estimate_charge_duration(
    capacity_wh: float, start_soc_pct: float, target_soc_pct: float, power_w: float
) -> dt.timedelta:
    """Seed 004 eq. 3.3: ``T = E / P`` with the energy of the corrected eq. 3.2."""
    if not power_w > 0:
        raise ValueError(f"charging power must be positive, got {power_w}")
    energy = estimate_energy_needed_wh(capacity_wh, start_soc_pct, target_soc_pct)
    return dt.timedelta(hours=energy / power_w)


def mape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    """Mean absolute percentage error in percent (seed 004 eq. 5.1), e.g. of estimated times."""
    if len(actual) != len(forecast):
        raise ValueError(f"{len(actual)} actual values for {len(forecast)} forecasts")
    if not actual:
        raise ValueError("MAPE of no values is undefined")
    if any(a == 0 for a in actual):
        raise ValueError("MAPE is undefined when an actual value is 0")
    return 100 * statistics.fmean(abs((a - f) / a) for a, f in zip(actual, forecast, strict=True))
