"""Billing engine throughput and latency against a naive per-sample baseline, in one run.

Prices N synthetic sessions (5-minute meter samples with power and current; lengths mixed
between 30 minutes and 10 hours, mostly long workplace and overnight sessions, about 100
samples on average; charging, then parked) under a 4-element time-of-day tariff with ENERGY, TIME,
PARKING_TIME and FLAT components in Europe/Amsterdam, and prints a table: complete CDR cost
sections per second (``compute_cost`` plus ``to_ocpi``) and per-session latency percentiles.

A third row prices each session as the server does when a DSO price adjustment is in force
(half-price energy from 11:00 to 14:00 local every day): the adjustment is written into the
tariff for the session's span (a new tariff object, so compiled again), then the whole OCPI
CDR document is built (:func:`plugins.billing.cdrs.build`) from in-memory rows.

The baseline is what one writes first: walk the samples and, for every interval, convert its
start to local time and re-evaluate every element's restrictions from the tariff object
(parsing "HH:MM" and dates each time), with no cutting of the timeline and nothing compiled.
The sessions sit on the 5-minute grid so that no boundary falls inside a sample interval and
the baseline is exact; both must produce the same totals, which is checked on a sample of the
sessions before anything is timed.

    python benchmarks/billing.py [--sessions 10000] [--seed 7] [--check 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import random
import statistics
import sys
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.db.models import ChargingStation, Connector, Evse, IdToken, Location, Transaction
from plugins.billing import adjustments, cdrs
from plugins.billing.config import BillingConfig
from plugins.billing.engine import (
    CompiledTariff,
    MeterReading,
    StateChange,
    compile_tariff,
    compute_cost,
)
from plugins.billing.inputs import SessionInputs
from plugins.billing.model import (
    DayOfWeek,
    Price,
    PriceComponent,
    Tariff,
    TariffDimensionType,
    TariffRestrictions,
    tariff_from_ocpi,
)
from plugins.billing.pricing import Context, SessionCost

ZONE = "Europe/Amsterdam"
SAMPLE = dt.timedelta(minutes=5)
TARIFF = {
    "country_code": "NL", "party_id": "OV2", "id": "tod-4", "currency": "EUR",
    "last_updated": "2024-01-01T00:00:00Z",
    "elements": [
        {"price_components": [
            {"type": "ENERGY", "price": 0.30, "vat": 21, "step_size": 1},
            {"type": "TIME", "price": 1.20, "vat": 21, "step_size": 60},
            {"type": "PARKING_TIME", "price": 3.00, "vat": 21, "step_size": 300}],
         "restrictions": {"start_time": "07:00", "end_time": "17:00"}},
        {"price_components": [
            {"type": "ENERGY", "price": 0.40, "vat": 21, "step_size": 1},
            {"type": "TIME", "price": 1.80, "vat": 21, "step_size": 60},
            {"type": "PARKING_TIME", "price": 4.00, "vat": 21, "step_size": 300}],
         "restrictions": {"start_time": "17:00", "end_time": "23:00"}},
        {"price_components": [
            {"type": "ENERGY", "price": 0.22, "vat": 21, "step_size": 1},
            {"type": "TIME", "price": 0.60, "vat": 21, "step_size": 60}],
         "restrictions": {"start_time": "23:00", "end_time": "07:00"}},
        {"price_components": [{"type": "FLAT", "price": 0.35, "vat": 21, "step_size": 1}]},
    ],
}


@dataclass(frozen=True)
class Session:
    start: dt.datetime
    end: dt.datetime
    stop_charging: dt.datetime
    readings: list[MeterReading]

    @property
    def observations(self) -> list[MeterReading | StateChange]:
        return [*self.readings, StateChange(self.stop_charging, False)]


def synthetic_sessions(count: int, seed: int) -> list[Session]:
    rng = random.Random(seed)
    month = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    sessions = []
    for _ in range(count):
        start = month + SAMPLE * rng.randrange(30 * 288)
        # Mostly long (8 to 10 hours), some short (30 minutes to 4 hours).
        steps = rng.randint(96, 120) if rng.random() < 0.85 else rng.randint(6, 48)
        charging_steps = rng.randint(max(1, steps // 2), steps)
        level = rng.uniform(3_700, 22_000)
        energy = rng.randrange(10_000_000)
        readings = []
        for i in range(steps + 1):
            power = level * rng.uniform(0.9, 1.0) if i < charging_steps else 0.0
            readings.append(MeterReading(start + SAMPLE * i, energy, round(power, 1),
                                         round(power / 230, 2)))
            if i < charging_steps:
                energy += int(power * 300 / 3600)
        sessions.append(Session(start, start + SAMPLE * steps, start + SAMPLE * charging_steps,
                                readings))
    return sessions


# --------------------------------------------------------------------------------------------
# The naive baseline


def _holds(r: TariffRestrictions | None, local: dt.datetime, kwh: Decimal, seconds: int,
           power_kw: Decimal) -> bool:
    """Every restriction re-read from the tariff object, for one instant."""
    if r is None:
        return True
    if r.reservation is not None:
        return False
    if r.day_of_week and list(DayOfWeek)[local.weekday()] not in r.day_of_week:
        return False
    if r.start_date and local.date() < dt.date.fromisoformat(r.start_date):
        return False
    if r.end_date and local.date() >= dt.date.fromisoformat(r.end_date):
        return False
    if not _in_window(local.time().replace(second=0, microsecond=0),
                      dt.time.fromisoformat(r.start_time) if r.start_time else None,
                      dt.time.fromisoformat(r.end_time) if r.end_time else None):
        return False
    checks = [(r.min_kwh, r.max_kwh, kwh), (r.min_power, r.max_power, power_kw),
              (r.min_duration, r.max_duration, seconds)]
    for low, high, value in checks:
        if low is not None and value < low:
            return False
        if high is not None and value >= high:
            return False
    return True


def _cents(amount: Fraction) -> Decimal:
    """Half up to the cent, from the exact amount."""
    hundredths = amount * 100
    whole = hundredths.numerator // hundredths.denominator
    if hundredths - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole).scaleb(-2)


def _in_window(now: dt.time, begin: dt.time | None, finish: dt.time | None) -> bool:
    if finish == dt.time(0):
        finish = None  # "To stop at end of the day use 00:00"
    if begin is None or finish is None:
        return (begin is None or now >= begin) and (finish is None or now < finish)
    if begin < finish:
        return begin <= now < finish
    return begin == finish or now >= begin or now < finish


def _pick(tariff: Tariff, kind: TariffDimensionType, *context: object) -> PriceComponent | None:
    for element in tariff.elements:
        if _holds(element.restrictions, *context):  # type: ignore[arg-type]
            for component in element.price_components:
                if component.type is kind:
                    return component
    return None


def naive_cost(tariff: Tariff, session: Session, zone: ZoneInfo) -> dict[str, Price]:
    """Totals by walking the samples; amounts are exact fractions, rounded at the end."""
    totals: dict[str, list[Fraction | None]] = {
        name: [Fraction(0), Fraction(0)] for name in ("fixed", "energy", "time", "parking")}

    def book(name: str, amount: Fraction, component: PriceComponent) -> None:
        total = totals[name]
        total[0] = (total[0] or Fraction(0)) + amount
        if total[1] is not None:
            total[1] = None if component.vat is None else \
                total[1] + amount * (1 + Fraction(component.vat) / 100)

    readings = session.readings
    first = readings[0]
    context = (first.timestamp.astimezone(zone), Decimal(0), 0,
               Decimal(repr(first.power_w)) / 1000)
    flat = _pick(tariff, TariffDimensionType.FLAT, *context)
    if flat is not None:
        book("fixed", Fraction(flat.price), flat)
    energy_sum, time_sums = Decimal(0), {"time": 0, "parking": 0}
    last_energy: PriceComponent | None = None
    last_time: tuple[str, PriceComponent] | None = None
    for before, after in itertools.pairwise(readings):
        local = before.timestamp.astimezone(zone)
        consumed = Decimal(before.energy_wh - first.energy_wh) / 1000
        elapsed = int((before.timestamp - session.start).total_seconds())
        power = Decimal(repr(before.power_w)) / 1000
        charging = before.timestamp < session.stop_charging
        wh = Decimal(after.energy_wh - before.energy_wh)
        seconds = int((after.timestamp - before.timestamp).total_seconds())
        energy = _pick(tariff, TariffDimensionType.ENERGY, local, consumed, elapsed, power)
        if energy is not None:
            book("energy", Fraction(energy.price) * Fraction(wh) / 1000, energy)
            energy_sum += wh
            if wh:
                last_energy = energy
        name = "time" if charging else "parking"
        kind = TariffDimensionType.TIME if charging else TariffDimensionType.PARKING_TIME
        component = _pick(tariff, kind, local, consumed, elapsed, power if charging else 0)
        if component is not None:
            book(name, Fraction(component.price) * seconds / 3600, component)
            time_sums[name] += seconds
            last_time = (name, component)
    if last_energy is not None:
        step = last_energy.step_size
        rest = (energy_sum / step).to_integral_value(ROUND_CEILING) * step - energy_sum
        book("energy", Fraction(last_energy.price) * Fraction(rest) / 1000, last_energy)
    if last_time is not None:
        name, component = last_time
        step = component.step_size
        rest = -(-time_sums[name] // step) * step - time_sums[name]
        book(name, Fraction(component.price) * rest / 3600, component)

    def rounded(excl: Fraction, incl: Fraction | None) -> Price:
        return Price(_cents(excl), None if incl is None else _cents(incl))

    out = {name: rounded(excl or Fraction(0), incl) for name, (excl, incl) in totals.items()}
    excl = sum((t[0] or Fraction(0) for t in totals.values()), Fraction(0))
    incls = [t[1] for t in totals.values()]
    incl = None if None in incls else sum((i for i in incls if i is not None), Fraction(0))
    if tariff.min_price:
        excl = max(excl, tariff.min_price.excl_vat)
        if incl is not None and tariff.min_price.incl_vat is not None:
            incl = max(incl, tariff.min_price.incl_vat)
    if tariff.max_price:
        excl = min(excl, tariff.max_price.excl_vat)
        if incl is not None and tariff.max_price.incl_vat is not None:
            incl = min(incl, tariff.max_price.incl_vat)
    out["total"] = rounded(excl, incl)
    return out


# --------------------------------------------------------------------------------------------


def engine_totals(tariff: Tariff, session: Session) -> dict[str, Price]:
    cost = compute_cost(tariff, start=session.start, end=session.end,
                        observations=session.observations, time_zone=ZONE)
    return {"fixed": cost.total_fixed_cost, "energy": cost.total_energy_cost,
            "time": cost.total_time_cost, "parking": cost.total_parking_cost,
            "total": cost.total_cost}


def _context() -> Context:
    location = Location(id="LOC1", name="Centraal", address="Stationsplein 1", city="Amsterdam",
                        postal_code="1012AB", country="NLD", latitude="52.37896",
                        longitude="4.90014", time_zone=ZONE)
    station = ChargingStation(id="CP1", location_id="LOC1", meter_serial_number="M-1")
    evse = Evse(station_id="CP1", evse_number=1, uid="7f9b8f4e-1c0e-4c55-9a3e-2d1f0c9b1a11",
                evse_id="NL*OV2*ECP1*1")
    connector = Connector(id="c1", station_id="CP1", connector_number=1, power_type="AC_3_PHASE",
                          standard="IEC_62196_T2", format="SOCKET", tariff_ids=[])
    token = IdToken(id_token="04A1B2C3", type="ISO14443", country_code="NL", party_id="OV2")
    tx = Transaction(id=1, transaction_uid="1", station_id="CP1", evse_number=1,
                     connector_number=1, id_token="04A1B2C3", flagged=False,
                     started_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    return Context(tx, station, evse, connector, location, token)


def dso_windows(session: Session, zone: ZoneInfo) -> list[adjustments.Adjustment]:
    """Half-price energy from 11:00 to 14:00 local on every day the session touches."""
    out = []
    day = session.start.astimezone(zone).date() - dt.timedelta(days=1)
    while day <= session.end.astimezone(zone).date():
        begin = dt.datetime(day.year, day.month, day.day, 11, tzinfo=zone)
        out.append(adjustments.Adjustment(begin.astimezone(dt.UTC),
                                          (begin + dt.timedelta(hours=3)).astimezone(dt.UTC),
                                          factor=Decimal("0.5")))
        day += dt.timedelta(days=1)
    return out


def measure(price: object, sessions: list[Session]) -> tuple[float, list[float]]:
    latencies = []
    # The million synthetic readings held in memory are this benchmark's, not the server's:
    # keep the collector from rescanning them so that latencies measure pricing.
    gc.collect()
    gc.freeze()
    began = time.perf_counter()
    for session in sessions:
        started = time.perf_counter()
        price(session)  # type: ignore[operator]
        latencies.append(time.perf_counter() - started)
    return len(sessions) / (time.perf_counter() - began), latencies


def row(name: str, count: int, rate: float, latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    p50, p95, p99 = (q[i] * 1e6 for i in (49, 94, 98))
    return (f"| {name:<40} | {count:>8} | {rate:>8.0f} | {p50:>8.0f} | {p95:>8.0f} | "
            f"{p99:>8.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check", type=int, default=500,
                        help="sessions whose totals must be equal in both implementations")
    args = parser.parse_args()
    tariff = tariff_from_ocpi(TARIFF)
    zone = ZoneInfo(ZONE)
    sessions = synthetic_sessions(args.sessions, args.seed)
    samples = sum(len(s.readings) for s in sessions) / len(sessions)
    hours = sum((s.end - s.start).total_seconds() for s in sessions) / 3600 / len(sessions)

    step = max(1, len(sessions) // max(1, args.check))
    checked = 0
    for session in sessions[::step][:args.check]:
        expected, got = naive_cost(tariff, session, zone), engine_totals(tariff, session)
        if expected != got:
            raise SystemExit(f"totals differ for a session starting {session.start}:\n"
                             f"  baseline {expected}\n  engine   {got}")
        checked += 1

    began = time.perf_counter()
    CompiledTariff(tariff)
    compile_ms = (time.perf_counter() - began) * 1e3
    compiled = compile_tariff(tariff)

    def engine(session: Session) -> None:
        compute_cost(compiled, start=session.start, end=session.end,
                     observations=session.observations, time_zone=zone).to_ocpi()

    def baseline(session: Session) -> None:
        naive_cost(tariff, session, zone)

    context = _context()
    config = BillingConfig("NL", "OV2", "EUR", cost_updates=False, cost_update_interval=300)
    issued = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    windows = [dso_windows(session, zone) for session in sessions]
    by_session = dict(zip(map(id, sessions), windows, strict=True))

    def whole_cdr(session: Session) -> None:
        priced = adjustments.apply(tariff, by_session[id(session)], zone, session.start,
                                   session.end)
        breakdown = compute_cost(priced, start=session.start, end=session.end,
                                 observations=session.observations, time_zone=zone)
        inputs = SessionInputs(session.start, session.end, (), None, zone, ())
        cost = SessionCost(breakdown, priced, None, "station", None, inputs, ())
        cdrs.build("cdr-1", context, cost, cdrs.Authorization("AUTH_REQUEST"), config, issued)

    print(f"\n{len(sessions)} sessions, {samples:.1f} samples and {hours:.2f} h each on average; "
          f"4-element time-of-day tariff in {ZONE}; one core")
    print(f"totals identical in both implementations for {checked} sessions; "
          f"tariff compiled in {compile_ms:.2f} ms")
    print("| implementation                           | sessions |  CDRs/s |  p50 µs |  p95 µs "
          "|  p99 µs |")
    print("|------------------------------------------|---------:|--------:|--------:|--------:"
          "|--------:|")
    rate, latencies = measure(engine, sessions)
    print(row("engine: compute_cost + to_ocpi", len(sessions), rate, latencies), flush=True)
    adjusted_rate, adjusted_latencies = measure(whole_cdr, sessions)
    print(row("adjusted tariff + whole OCPI CDR", len(sessions), adjusted_rate,
              adjusted_latencies), flush=True)
    base_rate, base_latencies = measure(baseline, sessions)
    print(row("naive per-sample baseline", len(sessions), base_rate, base_latencies))
    verdict = "met" if rate >= 2000 else "NOT met"
    print(f"\nengine / baseline = {rate / base_rate:.1f}x; target >= 2,000 CDRs/s: {verdict}")


if __name__ == "__main__":
    main()
