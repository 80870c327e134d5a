"""Billing: the OCPI 2.2.1 tariff model and the cost engine.

The worked examples of the OCPI 2.2.1 Tariffs chapter (mod_tariffs.asciidoc, tag 2.2.1) and
the step_size examples of its CDRs chapter (mod_cdrs.asciidoc) are encoded with the
specification's own tariff JSON (examples/*.json) and its own figures. Where the 2.2.1 text
contradicts itself, the comment on the test says which rule was followed and why.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.billing.engine import (
    CdrDimensionType,
    CostBreakdown,
    MeterReading,
    Reservation,
    StateChange,
    compile_tariff,
    compute_cost,
    estimate,
)
from plugins.billing.model import (
    Price,
    Tariff,
    TariffError,
    tariff_from_ocpi,
    tariff_to_ocpi,
)

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)

# The OCPI 2.2.1 example tariffs, verbatim (tabs of tariff_7 turned into spaces).
_SPEC_JSON = {
    "tariff_8_simple_025kwh": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "16",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2018-12-17T11:16:55Z"
}
""",
    "tariff_9_025kwh_start": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "17",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2018-12-17T11:36:01Z"
}
""",
    "tariff_12_025kwh_min_price": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "20",
  "currency": "EUR",
  "min_price": {
    "excl_vat": 0.50,
    "incl_vat": 0.55
  },
  "elements": [{
    "price_components": [{
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2018-12-17T16:45:21Z"
}
""",
    "tariff_10_025kwh_parking_start": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "18",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }, {
      "type": "PARKING_TIME",
      "price": 2.00,
      "vat": 20.0,
      "step_size": 900
    }]
  }],
  "last_updated": "2018-12-17T11:44:10Z"
}
""",
    "tariff_6_025kwh_start_max_price": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "16",
  "currency": "EUR",
  "max_price": {
    "excl_vat": 10.00,
    "incl_vat": 11.00
  },
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "end_date_time": "2019-06-30T23:59:59Z",
  "last_updated": "2018-12-17T17:15:01Z"
}
""",
    "tariff_1_simple_2hour": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "12",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "TIME",
      "price": 2.00,
      "vat": 10.0,
      "step_size": 60
    }]
  }],
  "last_updated": "2015-06-29T20:39:09Z"
}
""",
    "tariff_13_simple_3hour_5parking": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "21",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "TIME",
      "price": 3.00,
      "vat": 10.0,
      "step_size": 60
    }, {
      "type": "PARKING_TIME",
      "price": 5.00,
      "vat": 20.0,
      "step_size": 300
    }]
  }],
  "last_updated": "2018-12-17T17:00:43Z"
}
""",
    "tariff_2_alt_text": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "12",
  "currency": "EUR",
  "type": "AD_HOC_PAYMENT",
  "tariff_alt_text": [{
    "language": "en",
    "text": "2.00 euro p/hour including VAT."
  }, {
    "language": "nl",
    "text": "2.00 euro p/uur inclusief BTW."
  }],
  "elements": [{
    "price_components": [{
      "type": "TIME",
      "price": 1.90,
      "vat": 5.2,
      "step_size": 300
    }]
  }],
  "last_updated": "2015-06-29T20:39:09Z"
}
""",
    "tariff_11_not_possible_alt_text": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "19",
  "currency": "EUR",
  "type": "AD_HOC_PAYMENT",
  "tariff_alt_text": [{
    "language": "en",
    "text": "2.00 euro p/hour, start tariff debit card: 0.25 euro, credit card: 0.50 euro including VAT."
  }, {
    "language": "nl",
    "text": "2.00 euro p/uur, starttarief bankpas: 0,25 euro, creditkaart: 0,50 euro inclusief BTW."
  }],
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 0.40,
      "vat": 25.0,
      "step_size": 1
    }, {
      "type": "TIME",
      "price": 1.90,
      "vat": 5.2,
      "step_size": 300
    }]
  }],
  "last_updated": "2018-12-29T15:55:58Z"
}
""",  # noqa: E501
    "tariff_3_alt_url": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "13",
  "currency": "EUR",
  "type": "PROFILE_CHEAP",
  "tariff_alt_url": "https://company.com/tariffs/13",
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 100
    }]
  }],
  "last_updated": "2015-06-29T20:39:09Z"
}
""",
    "tariff_4_complex": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "14",
  "currency": "EUR",
  "type": "REGULAR",
  "tariff_alt_url": "https://company.com/tariffs/14",
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 2.50,
      "vat": 15.0,
      "step_size": 1
    }]
  }, {
    "price_components": [{
      "type": "TIME",
      "price": 1.00,
      "vat": 20.0,
      "step_size": 900
    }],
    "restrictions": {
      "max_current": 32.00
    }
  }, {
    "price_components": [{
      "type": "TIME",
      "price": 2.00,
      "vat": 20.0,
      "step_size": 600
    }],
    "restrictions": {
      "min_current": 32.00,
      "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    }
  }, {
    "price_components": [{
      "type": "TIME",
      "price": 1.25,
      "vat": 20.0,
      "step_size": 600
    }],
    "restrictions": {
      "min_current": 32.00,
      "day_of_week": ["SATURDAY", "SUNDAY"]
    }
  }, {
    "price_components": [{
      "type": "PARKING_TIME",
      "price": 5.00,
      "vat": 10.0,
      "step_size": 300
    }],
    "restrictions": {
      "start_time": "09:00",
      "end_time": "18:00",
      "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    }
  }, {
    "price_components": [{
      "type": "PARKING_TIME",
      "price": 6.00,
      "vat": 10.0,
      "step_size": 300
    }],
    "restrictions": {
      "start_time": "10:00",
      "end_time": "17:00",
      "day_of_week": ["SATURDAY"]
    }
  }],
  "last_updated": "2015-06-29T20:39:09Z"
}
""",
    "tariff_5_free_of_charge": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "15",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 0.00,
      "step_size": 0
    }]
  }],
  "last_updated": "2015-06-29T20:39:09Z"
}
""",
    "tariff_7_first_hour_kwh_free": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "52",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "PARKING_TIME",
      "price": 0.0,
      "step_size": 60
    }],
    "restrictions": {
      "min_duration": 0,
      "max_duration": 3600
    }
  }, {
    "price_components": [{
      "type": "PARKING_TIME",
      "price": 2.0,
      "step_size": 60
    }],
    "restrictions": {
      "min_duration": 3600,
      "max_duration": 10800
    }
  }, {
    "price_components": [{
      "type": "PARKING_TIME",
      "price": 3.0,
      "step_size": 60
    }],
    "restrictions": {
      "min_duration": 10800
    }
  }, {
    "price_components": [{
      "type": "ENERGY",
      "price": 0.0,
      "step_size": 1
    }],
    "restrictions": {
      "max_kwh": 1.0
    }
  }, {
    "price_components": [{
      "type": "ENERGY",
      "price": 0.2,
      "step_size": 1
    }],
    "restrictions": {
      "min_kwh": 1.0
    }
  }],
  "last_updated": "2018-12-29T15:55:58Z"
}
""",
    "tariff_14_step_size": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "22",
  "currency": "EUR",
  "elements": [
    {
      "price_components": [
        {
          "type": "TIME",
          "price": 1.20,
          "step_size": 1800
        },
        {
          "type": "PARKING_TIME",
          "price": 1.00,
          "step_size": 900
        }
      ],
      "restrictions" : {
        "start_time" : "00:00",
        "end_time" : "17:00"
      }
    },
    {
      "price_components": [
        {
          "type": "TIME",
          "price": 2.40,
          "step_size": 900
        },
        {
          "type": "PARKING_TIME",
          "price": 1.00,
          "step_size": 900
        }
      ],
      "restrictions" : {
        "start_time" : "17:00",
        "end_time" : "20:00"
      }
    },
    {
      "price_components": [
        {
          "type": "TIME",
          "price": 2.40,
          "step_size": 900
        }
      ],
      "restrictions" : {
        "start_time" : "20:00",
        "end_time" : "00:00"
      }
    }
  ],
  "last_updated": "2018-12-18T17:07:11Z"
}
""",
    "tariff_15_reservation_5_euro_per_hour": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "20",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "TIME",
      "price": 5.00,
      "vat": 20.0,
      "step_size": 60
    }],
    "restrictions": {
      "reservation": "RESERVATION"
    }
  }, {
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2019-02-03T17:00:11Z"
}
""",
    "tariff_16_reservation_2_euro_fee_5_euro_per_hour": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "20",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 2.00,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "TIME",
      "price": 5.00,
      "vat": 20.0,
      "step_size": 300
    }],
    "restrictions": {
      "reservation": "RESERVATION"
    }
  }, {
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2019-02-03T17:00:11Z"
}
""",
    "tariff_17_reservation_with_expire_fee": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "20",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "FLAT",
      "price": 4.00,
      "vat": 20.0,
      "step_size": 1
    }],
    "restrictions": {
      "reservation": "RESERVATION_EXPIRES"
    }
  }, {
    "price_components": [{
      "type": "TIME",
      "price": 2.00,
      "vat": 20.0,
      "step_size": 600
    }],
    "restrictions": {
      "reservation": "RESERVATION"
    }
  }, {
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2019-02-03T17:00:11Z"
}
""",
    "tariff_18_reservation_with_expire_time": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "20",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "TIME",
      "price": 6.00,
      "vat": 20.0,
      "step_size": 600
    }],
    "restrictions": {
      "reservation": "RESERVATION_EXPIRES"
    }
  }, {
    "price_components": [{
      "type": "TIME",
      "price": 3.00,
      "vat": 20.0,
      "step_size": 600
    }],
    "restrictions": {
      "reservation": "RESERVATION"
    }
  }, {
    "price_components": [{
      "type": "FLAT",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }, {
      "type": "ENERGY",
      "price": 0.25,
      "vat": 10.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2019-02-03T17:00:11Z"
}
""",
    "tariffrestriction_example_max_power": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "1",
  "currency": "EUR",
  "type": "REGULAR",
  "elements": [{
    "price_components": [{
      "type": "ENERGY",
      "price": 0.20,
      "vat": 20.0,
      "step_size": 1
    }],
    "restrictions": {
      "max_power": 16.00
    }
  }, {
    "price_components": [{
      "type": "ENERGY",
      "price": 0.35,
      "vat": 20.0,
      "step_size": 1
    }],
    "restrictions": {
      "max_power": 32.00
    }
  }, {
    "price_components": [{
      "type": "ENERGY",
      "price": 0.50,
      "vat": 20.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2018-12-05T12:01:09Z"
}
""",
    "tariffrestriction_example_max_duration": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "2",
  "currency": "EUR",
  "type": "REGULAR",
  "elements": [{
    "price_components": [{
      "type": "ENERGY",
      "price": 0.00,
      "vat": 20.0,
      "step_size": 1
    }],
    "restrictions": {
      "max_duration": 1800
    }
  }, {
    "price_components": [{
      "type": "ENERGY",
      "price": 0.25,
      "vat": 20.0,
      "step_size": 1
    }],
    "restrictions": {
      "max_duration": 3600
    }
  }, {
    "price_components": [{
      "type": "ENERGY",
      "price": 0.40,
      "vat": 20.0,
      "step_size": 1
    }]
  }],
  "last_updated": "2018-12-05T13:12:44Z"
}
""",
    "tariff_put_example": """
{
  "country_code": "DE",
  "party_id": "ALL",
  "id": "12",
  "currency": "EUR",
  "elements": [{
    "price_components": [{
      "type": "TIME",
      "price": 2.00,
      "vat": 10.0,
      "step_size": 300
    }]
  }]
}
""",
}

SPEC: dict[str, dict[str, Any]] = {name: json.loads(text) for name, text in _SPEC_JSON.items()}


def spec(name: str) -> Tariff:
    return tariff_from_ocpi(copy.deepcopy(SPEC[name]))


def at(text: str) -> dt.datetime:
    """A UTC instant written without its zone, to keep the tables short."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def charge(start: dt.datetime, minutes: float, kwh: str | int, *, park: float = 0,
           power_w: float | None = None, current_a: float | None = None) -> dict[str, Any]:
    """Charge ``kwh`` evenly over ``minutes``, then stay plugged in ``park`` minutes."""
    stop = start + minutes * MINUTE
    observations: list[Any] = [
        MeterReading(start, 0, power_w, current_a),
        MeterReading(stop, Decimal(kwh) * 1000, 0 if power_w is not None else None,
                     0 if current_a is not None else None),
    ]
    if park:
        observations.append(StateChange(stop, False))
    return {"start": start, "end": stop + park * MINUTE, "observations": observations}


def money(price: Price) -> tuple[str, str | None]:
    return str(price.excl_vat), None if price.incl_vat is None else str(price.incl_vat)


def exact(price: Price) -> tuple[Decimal, Decimal | None]:
    """An unrounded price as a pair (Decimals compare by value: 0.500 == 0.5)."""
    return price.excl_vat, price.incl_vat


def dims(breakdown: CostBreakdown) -> list[dict[str, float]]:
    return [{d.type.value: float(d.volume) for d in p.dimensions}
            for p in breakdown.charging_periods]


# --------------------------------------------------------------------------------------------
# The model: every specification example parses and round-trips


@pytest.mark.parametrize("name", sorted(set(SPEC) - {"tariff_put_example"}))
def test_spec_examples_round_trip(name):
    assert tariff_to_ocpi(spec(name)) == SPEC[name]


def test_put_example_lacks_last_updated():
    # The Tariffs chapter's PUT example omits last_updated, which the Tariff object table
    # declares required (cardinality 1); we keep the table's rule.
    with pytest.raises(TariffError, match="last_updated: is required"):
        spec("tariff_put_example")
    fixed = dict(SPEC["tariff_put_example"], last_updated="2019-06-24T12:39:09Z")
    assert tariff_to_ocpi(tariff_from_ocpi(fixed)) == fixed


def test_numbers_of_any_json_flavour_are_read_exactly():
    document = copy.deepcopy(SPEC["tariff_8_simple_025kwh"])
    for value in (0.1, "0.1", Decimal("0.1000"), "0.10"):
        document["elements"][0]["price_components"][0]["price"] = value
        tariff = tariff_from_ocpi(document)
        assert tariff.elements[0].price_components[0].price == Decimal("0.1")
    document["elements"][0]["price_components"][0]["step_size"] = 60.0
    assert tariff_from_ocpi(document).elements[0].price_components[0].step_size == 60


def test_output_is_plain_json_with_utc_datetimes():
    document = copy.deepcopy(SPEC["tariff_6_025kwh_start_max_price"])
    document["start_date_time"] = "2019-01-01T00:00:00.5"
    document["energy_mix"] = {"is_green_energy": True, "supplier_name": "Wind"}
    out = tariff_to_ocpi(tariff_from_ocpi(document))
    assert out["start_date_time"] == "2019-01-01T00:00:00.500000Z"
    assert out["end_date_time"] == "2019-06-30T23:59:59Z"
    assert out["energy_mix"] == {"is_green_energy": True, "supplier_name": "Wind"}
    assert json.loads(json.dumps(out)) == out
    assert "tariff_alt_text" not in out and "type" not in out


def _base() -> dict[str, Any]:
    return {
        "country_code": "NL", "party_id": "OV2", "id": "T1", "currency": "EUR",
        "elements": [{
            "price_components": [{"type": "ENERGY", "price": 0.25, "vat": 21, "step_size": 1}],
            "restrictions": {"start_time": "07:00", "end_time": "17:00"},
        }],
        "last_updated": "2024-01-01T00:00:00Z",
    }


def _set(path: str, value: Any) -> Any:
    """A mutation of the base tariff: set (or, with ..., delete) one field."""
    def apply(document: dict[str, Any]) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        target: Any = document
        for key in keys[:-1]:
            target = target[key]
        if value is ...:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return apply


_C = "elements.0.price_components.0"
_R = "elements.0.restrictions"
_P = "elements[0].price_components[0]"
_Q = "elements[0].restrictions"

BAD_TARIFFS = [
    (_set("colour", "blue"), "colour", "unknown field"),
    (_set("currency", ...), "currency", "is required"),
    (_set("currency", "eur"), "currency", "ISO 4217"),
    (_set("currency", "EURO"), "currency", "at most 3 characters"),
    (_set("currency", 978), "currency", "must be a string"),
    (_set("country_code", "NLD"), "country_code", "at most 2 characters"),
    (_set("country_code", "N1"), "country_code", "ISO 3166"),
    (_set("party_id", "OV"), "party_id", "3-character party id"),
    (_set("party_id", "O-V"), "party_id", "3-character party id"),
    (_set("id", "x" * 37), "id", "at most 36 characters"),
    (_set("id", ""), "id", "must not be empty"),
    (_set("id", "tariff\u00e9"), "id", "printable ASCII"),
    (_set("type", "CHEAP"), "type", "must be one of AD_HOC_PAYMENT"),
    (_set("last_updated", ...), "last_updated", "is required"),
    (_set("last_updated", "2024-01-01 10:00"), "last_updated", "UTC date-time"),
    (_set("last_updated", "2024-01-01T10:00:00+02:00"), "last_updated", "UTC date-time"),
    (_set("last_updated", "2024-02-30T10:00:00Z"), "last_updated", "not a valid date-time"),
    (_set("end_date_time", "2019-01-01T00:00:00Z"), "end_date_time", "after start_date_time"),
    (_set("tariff_alt_url", "ftp://example.com/t"), "tariff_alt_url", "http(s) URL"),
    (_set("tariff_alt_url", "see our website"), "tariff_alt_url", "http(s) URL"),
    (_set("tariff_alt_text", [{"language": "eng", "text": "x"}]), "tariff_alt_text[0].language",
     "at most 2 characters"),
    (_set("tariff_alt_text", [{"language": "en", "text": "a\nb"}]), "tariff_alt_text[0].text",
     "printable"),
    (_set("tariff_alt_text", {"language": "en"}), "tariff_alt_text", "must be a list"),
    (_set("min_price", {"incl_vat": 1}), "min_price.excl_vat", "is required"),
    (_set("min_price", {"excl_vat": 2, "incl_vat": 1}), "min_price.incl_vat",
     "must not be less than excl_vat"),
    (_set("max_price", {"excl_vat": -1}), "max_price.excl_vat", "must not be negative"),
    (_set("energy_mix", {"supplier_name": "x"}), "energy_mix.is_green_energy", "is required"),
    (_set("energy_mix", {"is_green_energy": "yes"}), "energy_mix.is_green_energy",
     "must be a boolean"),
    (_set("elements", []), "elements", "at least one tariff element"),
    (_set("elements", {}), "elements", "must be a list"),
    (_set("elements.0.price_components", []), "elements[0].price_components",
     "at least one price component"),
    (_set("elements.0.tax", 1), "elements[0].tax", "unknown field"),
    (_set(f"{_C}.price", -0.1), f"{_P}.price", "must not be negative"),
    (_set(f"{_C}.price", "abc"), f"{_P}.price", "must be a number"),
    (_set(f"{_C}.price", True), f"{_P}.price", "must be a number, not a boolean"),
    (_set(f"{_C}.price", None), f"{_P}.price", "is required"),
    (_set(f"{_C}.price", 0.12345), f"{_P}.price", "at most 4 decimals"),
    (_set(f"{_C}.price", "NaN"), f"{_P}.price", "finite"),
    (_set(f"{_C}.price", "1e40"), f"{_P}.price", "too large"),
    (_set(f"{_C}.vat", 121), f"{_P}.vat", "percentage up to 100"),
    (_set(f"{_C}.vat", -5), f"{_P}.vat", "must not be negative"),
    (_set(f"{_C}.step_size", 0), f"{_P}.step_size", "at least 1"),
    (_set(f"{_C}.step_size", 1.5), f"{_P}.step_size", "must be an integer"),
    (_set(f"{_C}.step_size", ...), f"{_P}.step_size", "is required"),
    (_set(f"{_C}.type", "POWER"), f"{_P}.type", "must be one of ENERGY, FLAT"),
    (_set(f"{_C}.unit", "kWh"), f"{_P}.unit", "unknown field"),
    (lambda d: d["elements"][0]["price_components"].append(
        {"type": "ENERGY", "price": 1, "step_size": 1}),
     "elements[0].price_components[1].type", "already priced by price_components[0]"),
    (_set(f"{_R}.start_time", "7:00"), f"{_Q}.start_time", "HH:MM"),
    (_set(f"{_R}.end_time", "24:00"), f"{_Q}.end_time", "HH:MM"),
    (_set(f"{_R}.start_date", "2024/01/01"), f"{_Q}.start_date", "YYYY-MM-DD"),
    (_set(f"{_R}.start_date", "2024-02-30"), f"{_Q}.start_date", "not a calendar date"),
    (lambda d: d["elements"][0]["restrictions"].update(start_date="2024-02-01",
                                                         end_date="2024-02-01"),
     f"{_Q}.start_date", "must be before end_date"),
    (lambda d: d["elements"][0]["restrictions"].update(min_kwh=20, max_kwh=10),
     f"{_Q}.min_kwh", "must be less than max_kwh"),
    (lambda d: d["elements"][0]["restrictions"].update(min_power=11, max_power=11),
     f"{_Q}.min_power", "must be less than max_power"),
    (lambda d: d["elements"][0]["restrictions"].update(min_current=32, max_current=16),
     f"{_Q}.min_current", "must be less than max_current"),
    (lambda d: d["elements"][0]["restrictions"].update(min_duration=3600, max_duration=60),
     f"{_Q}.min_duration", "must be less than max_duration"),
    (_set(f"{_R}.min_duration", -1), f"{_Q}.min_duration", "at least 0"),
    (_set(f"{_R}.max_kwh", -1), f"{_Q}.max_kwh", "must not be negative"),
    (_set(f"{_R}.day_of_week", ["MON"]), f"{_Q}.day_of_week[0]", "must be one of MONDAY"),
    (_set(f"{_R}.day_of_week", ["MONDAY", "MONDAY"]), f"{_Q}.day_of_week[1]",
     "repeats MONDAY"),
    (_set(f"{_R}.day_of_week", "MONDAY"), f"{_Q}.day_of_week", "must be a list"),
    (_set(f"{_R}.reservation", "YES"), f"{_Q}.reservation", "must be one of RESERVATION"),
    (_set(f"{_R}.reservation", "RESERVATION"), f"{_P}.type",
     "a reservation element can only price FLAT and TIME"),
    (_set(f"{_R}.colour", "red"), f"{_Q}.colour", "unknown field"),
    (_set("elements.0.restrictions", [1]), _Q, "must be an object"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), BAD_TARIFFS)
def test_invalid_tariffs_are_refused_naming_the_field(mutate, path, fragment):
    document = _base()
    document["start_date_time"] = "2020-01-01T00:00:00Z"
    mutate(document)
    with pytest.raises(TariffError) as refused:
        tariff_from_ocpi(document)
    assert refused.value.path == path
    assert fragment in refused.value.message
    assert str(refused.value).startswith(f"{path}: ")


def test_a_document_that_is_not_an_object_is_refused():
    with pytest.raises(TariffError, match="must be an object, not a list"):
        tariff_from_ocpi([_base()])


def test_flat_may_have_step_size_zero_as_in_the_free_of_charge_example():
    # examples/tariff_5_free_of_charge.json gives a FLAT component step_size 0; FLAT has no unit
    # to step in, so 0 is accepted there and only there.
    assert spec("tariff_5_free_of_charge").elements[0].price_components[0].step_size == 0


# --------------------------------------------------------------------------------------------
# The Tariffs chapter's worked examples, with the specification's figures

MONDAY = at("2018-12-03T00:00")  # the examples use local time; these sessions run in UTC


def test_simple_tariff_025_per_kwh():
    # "Simple Tariff example 0.25 euro per kWh": 20 kWh cost 5.00 excl. / 5.50 incl. VAT.
    cost = compute_cost(spec("tariff_8_simple_025kwh"), **charge(MONDAY, 60, 20))
    assert money(cost.total_cost) == ("5.00", "5.50")
    assert money(cost.total_energy_cost) == ("5.00", "5.50")
    assert cost.total_energy == 20


def test_tariff_025_per_kwh_with_start_fee():
    # "Tariff example 0.25 euro per kWh + start fee": 20 kWh cost 5.50 excl. / 6.10 incl.
    cost = compute_cost(spec("tariff_9_025kwh_start"), **charge(MONDAY, 60, 20))
    assert money(cost.total_cost) == ("5.50", "6.10")
    assert money(cost.total_fixed_cost) == ("0.50", "0.60")


@pytest.mark.parametrize(("kwh", "expected"), [
    ("20", ("5.00", "5.50")),
    ("2", ("0.50", "0.55")),
    ("1", ("0.50", "0.55")),  # below the minimum: the minimum is billed
    ("0", ("0.50", "0.55")),
])
def test_tariff_025_per_kwh_with_minimum_price(kwh, expected):
    # "Tariff example 0.25 euro per kWh + minimum price": 5.00/5.50 for 20 kWh, but below
    # 2 kWh 0.50 excl. / 0.55 incl. VAT is billed.
    cost = compute_cost(spec("tariff_12_025kwh_min_price"), **charge(MONDAY, 30, kwh))
    assert money(cost.total_cost) == expected


def test_tariff_025_per_kwh_with_parking_fee_and_start_fee():
    # "Tariff example 0.25 euro per kWh + parking fee + start fee": 20 kWh and 40 minutes of
    # parking, billed per 15 minutes as 45, cost 7.00 excl. / 7.90 incl. VAT.
    cost = compute_cost(spec("tariff_10_025kwh_parking_start"),
                        **charge(MONDAY, 90, 20, park=40))
    assert money(cost.total_cost) == ("7.00", "7.90")
    assert money(cost.total_parking_cost) == ("1.50", "1.80")
    assert cost.total_parking_time == Decimal(40) / 60


@pytest.mark.parametrize(("kwh", "expected", "uncapped"), [
    ("50", ("10.00", "11.00"), ("13.00", "14.35")),
    ("30", ("8.00", "8.85"), ("8.00", "8.85")),
])
def test_tariff_025_per_kwh_with_start_fee_and_maximum_price(kwh, expected, uncapped):
    # "Tariff example 0.25 euro per kWh + start fee + max price + tariff end date": 50 kWh
    # cost 10.00/11.00 because of the price limit, 30 kWh cost 8.00/8.85.
    cost = compute_cost(spec("tariff_6_025kwh_start_max_price"),
                        **charge(at("2019-06-01T10:00"), 120, kwh))
    assert money(cost.total_cost) == expected
    assert money(cost.uncapped_total_cost) == uncapped


def test_simple_tariff_2_euro_per_hour():
    # "Simple Tariff example 2 euro per hour": 2.5 hours of charging cost 5.00/5.50; parking
    # would be free (no PARKING_TIME component).
    cost = compute_cost(spec("tariff_1_simple_2hour"), **charge(MONDAY, 150, 30, park=20))
    assert money(cost.total_cost) == ("5.00", "5.50")
    assert money(cost.total_parking_cost) == ("0.00", "0.00")


def test_simple_tariff_3_euro_per_hour_5_euro_per_hour_parking():
    # "Simple Tariff example 3 euro per hour, 5 euro per hour parking": 150 minutes charging
    # and 42 minutes parking (billed per 5 minutes: 45) cost 11.25/12.75.
    cost = compute_cost(spec("tariff_13_simple_3hour_5parking"),
                        **charge(MONDAY, 150, 30, park=42))
    assert money(cost.total_cost) == ("11.25", "12.75")
    assert money(cost.total_time_cost) == ("7.50", "8.25")
    assert money(cost.total_parking_cost) == ("3.75", "4.50")


def test_ad_hoc_tariff_with_multiple_languages():
    # "Ad-Hoc simple Tariff example with multiple languages": 1.90/h with 5.2 % VAT, 2.5 hours
    # cost 4.75 excl. / 5.00 incl. VAT (4.997 rounded to the cent).
    cost = compute_cost(spec("tariff_2_alt_text"), **charge(MONDAY, 150, 11))
    assert money(cost.total_cost) == ("4.75", "5.00")
    assert exact(compute_cost(spec("tariff_2_alt_text"), exact=True,
                              **charge(MONDAY, 150, 11)).total_cost) == (Decimal("4.75"),
                                                                         Decimal("4.997"))


def test_ad_hoc_tariff_not_possible_with_ocpi_still_prices_its_elements():
    # "Ad-Hoc Tariff example not possible with OCPI" gives no figures; its elements (0.40 start,
    # 1.90/h per 5 minutes) price one hour at 2.30 excl. VAT.
    cost = compute_cost(spec("tariff_11_not_possible_alt_text"), **charge(MONDAY, 60, 11))
    assert money(cost.total_cost) == ("2.30", "2.50")


def test_tariff_with_alternative_url_billed_per_100_wh():
    # "Simple Tariff example with alternative URL": 20.45 kWh billed per 0.1 kWh as 20.5 kWh:
    # start 0.50/0.60, energy 5.13/5.64, total 5.63/6.24.
    cost = compute_cost(spec("tariff_3_alt_url"), **charge(MONDAY, 60, "20.45"))
    assert money(cost.total_fixed_cost) == ("0.50", "0.60")
    assert money(cost.total_energy_cost) == ("5.13", "5.64")
    assert money(cost.total_cost) == ("5.63", "6.24")
    assert cost.total_energy == Decimal("20.45")  # the CDR reports what was measured


def test_complex_tariff_monday_morning():
    # "Complex Tariff example", first session: Monday 09:30, 165 minutes charging at 16 A and
    # 42 minutes parking: 2.50 start + 2.75 charging + 3.75 parking (45 minutes) = 9.00 excl.,
    # 10.30 incl. VAT. (The text also says "147 minutes (charging)"; its own sums use 165.)
    start = at("2018-12-03T09:30")  # a Monday
    cost = compute_cost(spec("tariff_4_complex"),
                        **charge(start, 165, 25, park=42, current_a=16))
    assert money(cost.total_cost) == ("9.00", "10.30")
    assert money(cost.total_time_cost) == ("2.75", "3.30")
    assert money(cost.total_parking_cost) == ("3.75", "4.13")


def test_complex_tariff_saturday_afternoon():
    # Second session: Saturday 13:30, 114 minutes at 43 A (weekend price 1.25/h, not rounded
    # as parking follows) and 71 minutes parking (6.00/h, rounded to 75 minutes):
    # 12.375 excl. / 13.975 incl. VAT, i.e. 12.38 / 13.98 billed to the cent.
    kwargs = charge(at("2018-12-08T13:30"), 114, 40, park=71, current_a=43)
    tariff = spec("tariff_4_complex")
    assert exact(compute_cost(tariff, exact=True, **kwargs).total_cost) == (
        Decimal("12.375"), Decimal("13.975"))
    cost = compute_cost(tariff, **kwargs)
    assert money(cost.total_cost) == ("12.38", "13.98")
    assert money(cost.total_parking_cost) == ("7.50", "8.25")
    periods = dims(cost)
    assert periods[0]["MAX_CURRENT"] == 43 and periods[0]["TIME"] == pytest.approx(1.9)


def test_complex_tariff_time_needs_a_known_current():
    # Its TIME elements are all current-bound: without current readings no TIME element can be
    # shown to apply, so charging time is free and only start fee and parking remain.
    cost = compute_cost(spec("tariff_4_complex"), **charge(at("2018-12-03T09:30"), 165, 25,
                                                           park=42))
    assert money(cost.total_time_cost) == ("0.00", "0.00")
    assert money(cost.total_cost) == ("6.25", "7.00")


def test_free_of_charge_tariff():
    # "Free of Charge Tariff example": nothing to pay, not even VAT.
    cost = compute_cost(spec("tariff_5_free_of_charge"), **charge(MONDAY, 300, 50, park=60))
    assert money(cost.total_cost) == ("0.00", "0.00")


def test_first_kwh_free_and_parking_by_session_duration():
    # "First hour free energy example": the first kWh is free, then 0.20/kWh; parking is free
    # in the session's first hour, 2.00/h until the third hour and 3.00/h after. The text
    # prices 2:45 of parking as 1:45 paid (7.30 in total), which only holds if charging took
    # no time at all: min/max_duration count from the session start. The 2.2.1-d2 errata
    # withdrew the example for that conflict. Here charging takes the first hour, so parking
    # runs from 1:00 to 3:45 into the session: 2 h at 2.00 and 0:45 at 3.00.
    cost = compute_cost(spec("tariff_7_first_hour_kwh_free"),
                        **charge(MONDAY, 60, 20, park=165))
    assert money(cost.total_energy_cost) == ("3.80", None)  # 19 kWh, as the text says
    assert money(cost.total_parking_cost) == ("6.25", None)
    assert money(cost.total_cost) == ("10.05", None)  # no VAT given: incl. VAT unknowable
    # The 1 kWh threshold is crossed 3 minutes in (20 kWh over 60 minutes).
    starts = [p.start_date_time for p in cost.charging_periods]
    assert starts[:2] == [MONDAY, MONDAY + 3 * MINUTE]


def test_first_kwh_free_with_instant_charging_gives_the_printed_figure():
    # The example's 7.30: all 20 kWh within the first second, 2:45 of parking after.
    start = MONDAY
    observations = [MeterReading(start, 0), MeterReading(start + dt.timedelta(seconds=1), 20000),
                    StateChange(start + dt.timedelta(seconds=1), False)]
    cost = compute_cost(spec("tariff_7_first_hour_kwh_free"), start=start,
                        end=start + 165 * MINUTE, observations=observations)
    assert money(cost.total_cost) == ("7.30", None)


def test_reservation_5_euro_per_hour():
    # "Tariff example with reservation price": reservation 15 minutes before the session,
    # 20 kWh: start 0.50/0.60 + energy 5.00/5.50 + reservation 1.25/1.50 = 6.75/7.60.
    start = at("2019-02-04T10:15")
    cost = compute_cost(spec("tariff_15_reservation_5_euro_per_hour"),
                        reservation=Reservation(start - 15 * MINUTE), **charge(start, 60, 20))
    assert money(cost.total_cost) == ("6.75", "7.60")
    assert money(cost.total_reservation_cost) == ("1.25", "1.50")
    assert cost.start_date_time == start - 15 * MINUTE  # a CDR starts with the reservation
    assert cost.total_time == 1  # the session itself
    assert dims(cost)[0] == {"RESERVATION_TIME": 0.25}


def test_reservation_fee_and_5_euro_per_hour():
    # "Tariff example with reservation price and fee": 13 minutes of reservation billed per
    # 5 minutes as 15, plus a 2.00 reservation fee: 8.75 excl. / 10.00 incl. VAT. (Its
    # breakdown writes the fee as "2.00 incl. VAT"; with 20 % VAT it is 2.40, which is what
    # makes its total of 10.00.)
    start = at("2019-02-04T10:13")
    cost = compute_cost(spec("tariff_16_reservation_2_euro_fee_5_euro_per_hour"),
                        reservation=Reservation(start - 13 * MINUTE), **charge(start, 60, 20))
    assert money(cost.total_cost) == ("8.75", "10.00")
    assert money(cost.total_reservation_cost) == ("3.25", "3.90")
    assert money(cost.total_fixed_cost) == ("0.50", "0.60")


@pytest.mark.parametrize(("name", "expected"), [
    ("tariff_17_reservation_with_expire_fee", ("6.50", "7.30")),
    ("tariff_18_reservation_with_expire_time", ("7.00", "7.90")),
])
def test_reservation_followed_by_a_session(name, expected):
    # "Tariff example with reservation price and expire fee/time": a session 22 minutes after
    # the reservation, 20 kWh; the reservation is billed per 10 minutes as 30.
    start = at("2019-02-04T10:22")
    cost = compute_cost(spec(name), reservation=Reservation(start - 22 * MINUTE),
                        **charge(start, 60, 20))
    assert money(cost.total_cost) == expected


@pytest.mark.parametrize(("name", "hours", "expected"), [
    ("tariff_17_reservation_with_expire_fee", 1, ("6.00", "7.20")),
    ("tariff_18_reservation_with_expire_time", Decimal("1.5"), ("9.00", "10.80")),
])
def test_expired_reservation(name, hours, expected):
    # The same examples when the driver never came and the reservation expired: 1 hour of
    # reservation at 2.00 plus the 4.00 expiry fee; 1.5 hours at the expiry price of 6.00/h.
    # No start fee: there was no session.
    expiry = at("2019-02-04T11:30")
    begun = expiry - dt.timedelta(hours=float(hours))
    cost = compute_cost(spec(name), start=expiry, end=expiry,
                        reservation=Reservation(begun, expired=True))
    assert money(cost.total_cost) == expected
    assert money(cost.total_fixed_cost) == ("0.00", "0.00")
    assert cost.total_time == 0 and cost.total_energy == 0


STEP = "tariff_14_step_size"  # 1.20/h per 30 min before 17:00, 2.40/h per 15 min after,
#                                parking 1.00/h per 15 min until 20:00, no VAT given


def test_step_size_switching_elements_1():
    # "Example: switching to different Tariff Element #1": 16:55, 10 minutes charging, then
    # 2 minutes parking. The CDRs chapter (2.2.1) rounds only the parking total when parking
    # follows charging, by the step size of the last parking period: 2 -> 15 minutes.
    # 5 min x 1.20/h + 5 min x 2.40/h + 15 min x 1.00/h = 0.10 + 0.20 + 0.25 = 0.55.
    # (The 2.2.1 Tariffs text rounds the 12-minute total instead and prints 0.383; its own
    # CDRs chapter and the 2.2.1-d2 errata, which prints 0.55, say otherwise.)
    start = at("2018-12-03T16:55")
    cost = compute_cost(spec(STEP), start=start, end=start + 12 * MINUTE,
                        observations=[StateChange(start + 10 * MINUTE, False)], exact=True)
    assert exact(cost.total_time_cost) == (Decimal("0.3"), None)
    assert exact(cost.total_parking_cost) == (Decimal("0.25"), None)
    assert exact(cost.total_cost) == (Decimal("0.55"), None)
    assert [p.start_date_time for p in cost.charging_periods] == [
        start, at("2018-12-03T17:00"), at("2018-12-03T17:05")]


def test_step_size_switching_elements_2():
    # "Example: switching to different Tariff Element #2": 16:35, 35 minutes charging. The
    # last element's step (15 minutes) rounds the charging total 35 -> 45: 25 minutes before
    # 17:00 (0.50) and 20 after (0.80) make 1.30.
    start = at("2018-12-03T16:35")
    cost = compute_cost(spec(STEP), start=start, end=start + 35 * MINUTE)
    assert money(cost.total_cost) == ("1.30", None)
    assert [exact(p)[0] for p in cost.period_costs] == [Decimal("0.5"), Decimal("0.8")]


def test_step_size_switching_to_free_of_charge_element():
    # "Example: switching to Free-of-Charge Tariff Element": 19:40, 12 minutes charging,
    # 20 minutes parking, parking free from 20:00. Billable parking is 8 minutes, rounded to
    # 15 by the last paid parking period, charging is not rounded: 12 min x 2.40/h +
    # 15 min x 1.00/h = 0.48 + 0.25 = 0.73. (2.2.1 prints 0.78 rounding the 20-minute
    # total, the 2.2.1-d2 errata 0.80 with prices that are not the tariff's; both texts state
    # the rule applied here.)
    start = at("2018-12-03T19:40")
    cost = compute_cost(spec(STEP), start=start, end=start + 32 * MINUTE,
                        observations=[StateChange(start + 12 * MINUTE, False)])
    assert money(cost.total_time_cost) == ("0.48", None)
    assert money(cost.total_parking_cost) == ("0.25", None)
    assert money(cost.total_cost) == ("0.73", None)
    # Free parking after 20:00 is its own period, priced at nothing.
    assert exact(cost.period_costs[-1]) == (Decimal(0), Decimal(0))


def test_max_power_restriction_example():
    # "Example: Tariff with max_power Tariff Restrictions": 1 kWh at 6 kW, 40 kWh at 48 kW,
    # 0.5 kWh at 4 kW: 0.20 + 20.00 + 0.10 = 20.30 excl. VAT.
    start = MONDAY
    observations = [
        MeterReading(start, 0, 6000), MeterReading(start + 10 * MINUTE, 1000, 48000),
        MeterReading(start + 60 * MINUTE, 41000, 4000),
        MeterReading(start + dt.timedelta(minutes=67.5), 41500, 0),
    ]
    tariff = spec("tariffrestriction_example_max_power")
    cost = compute_cost(tariff, start=start, end=start + 70 * MINUTE,
                        observations=observations)
    assert money(cost.total_cost) == ("20.30", "24.36")
    # One period per price; the final idle minutes price like the 4 kW ones and join them.
    assert [(d["MIN_POWER"], d["MAX_POWER"]) for d in dims(cost)] == [(6, 6), (48, 48), (0, 4)]
    # Without measured power, the average power of each interval (from energy) is the same.
    bare = [MeterReading(r.timestamp, r.energy_wh) for r in observations]
    assert money(compute_cost(tariff, start=start, end=start + 70 * MINUTE,
                              observations=bare).total_cost) == ("20.30", "24.36")


def test_max_duration_restriction_example():
    # "Example: Tariff with max_duration Tariff Restrictions": 40 minutes, 5 kWh in the first
    # 30 (free) and 1.2 kWh in the last 10 (0.25/kWh): 0.30 excl. VAT.
    start = MONDAY
    observations = [MeterReading(start, 0), MeterReading(start + 30 * MINUTE, 5000),
                    MeterReading(start + 40 * MINUTE, 6200)]
    cost = compute_cost(spec("tariffrestriction_example_max_duration"), start=start,
                        end=start + 40 * MINUTE, observations=observations)
    assert money(cost.total_cost) == ("0.30", "0.36")


@pytest.mark.parametrize(("step", "expected"), [
    (1, Decimal("0.029")), (25, Decimal("0.03125")), (500, Decimal("0.125")),
])
def test_energy_step_size_note(step, expected):
    # PriceComponent note on step_size: 115.2 Wh at 0.25/kWh is billed as 116 Wh (0.029),
    # 125 Wh with step 25 ("0.031") and 500 Wh with step 500 (0.125).
    document = copy.deepcopy(SPEC["tariff_8_simple_025kwh"])
    document["elements"][0]["price_components"][0]["step_size"] = step
    start = MONDAY
    cost = compute_cost(tariff_from_ocpi(document), start=start, end=start + MINUTE, exact=True,
                        observations=[MeterReading(start, 0),
                                      MeterReading(start + MINUTE, Decimal("115.2"))])
    assert cost.total_energy_cost.excl_vat == expected


# --------------------------------------------------------------------------------------------
# The CDRs chapter's step_size examples


def _tariff(*elements: dict[str, Any], **extra: Any) -> Tariff:
    return tariff_from_ocpi({"country_code": "NL", "party_id": "OV2", "id": "T",
                             "currency": "EUR", "elements": list(elements),
                             "last_updated": "2024-01-01T00:00:00Z", **extra})


def _pc(kind: str, price: float | str, step: int = 1, vat: float | None = None
        ) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "price": price, "step_size": step}
    if vat is not None:
        out["vat"] = vat
    return out


def test_cdr_step_size_charging_then_parking():
    # 21 minutes charging then 7 parking, both per 5 minutes: charging billed as 21 minutes,
    # parking as 10.
    tariff = _tariff({"price_components": [_pc("TIME", 6, 300), _pc("PARKING_TIME", 6, 300)]})
    cost = compute_cost(tariff, exact=True, **charge(MONDAY, 21, 5, park=7))
    assert cost.total_time_cost.excl_vat == Decimal("2.1")  # 21 min at 6/h
    assert cost.total_parking_cost.excl_vat == Decimal("1")  # 10 min at 6/h


def test_cdr_step_size_energy_total_across_time_of_day():
    # 0.20/kWh before 17:00, 0.27 after, both per 500 Wh: 4.3 + 1.1 = 5.4 kWh is rounded to
    # 5.5 kWh in total, the extra 0.1 kWh at the last price: 0.86 + 1.2 x 0.27 = 1.184.
    tariff = _tariff(
        {"price_components": [_pc("ENERGY", 0.20, 500)],
         "restrictions": {"end_time": "17:00"}},
        {"price_components": [_pc("ENERGY", 0.27, 500)]})
    start = at("2024-03-04T16:00")
    observations = [MeterReading(start, 0), MeterReading(at("2024-03-04T17:00"), 4300),
                    MeterReading(at("2024-03-04T17:30"), 5400)]
    cost = compute_cost(tariff, start=start, end=at("2024-03-04T17:30"),
                        observations=observations, exact=True)
    assert cost.total_energy_cost.excl_vat == Decimal("1.184")
    assert [exact(p)[0] for p in cost.period_costs] == [Decimal("0.86"), Decimal("0.324")]


def test_cdr_step_size_time_total_across_time_of_day():
    # 5/h before 17:00 and 7/h after, per 10 minutes: 6 + 22 minutes = 28, rounded to 30 in
    # total, so 24 minutes after 17:00: 0.50 + 2.80 = 3.30.
    tariff = _tariff(
        {"price_components": [_pc("TIME", 5, 600)], "restrictions": {"end_time": "17:00"}},
        {"price_components": [_pc("TIME", 7, 600)]})
    start = at("2024-03-04T16:54")
    cost = compute_cost(tariff, start=start, end=start + 28 * MINUTE)
    assert money(cost.total_cost) == ("3.30", None)


def test_cdr_step_size_parking_after_charging():
    # 1.00/h charging, 2.00/h parking, both per 10 minutes: 21 minutes charging and 16 parking
    # bill 21 + 20 minutes: 0.35 + 0.6667.
    tariff = _tariff({"price_components": [_pc("TIME", 1, 600), _pc("PARKING_TIME", 2, 600)]})
    cost = compute_cost(tariff, **charge(MONDAY, 21, 3, park=16))
    assert money(cost.total_time_cost) == ("0.35", None)
    assert money(cost.total_parking_cost) == ("0.67", None)
    assert money(cost.total_cost) == ("1.02", None)


def test_cdr_example():
    # examples/cdr_example.json: 2.00/h per 5 minutes with 10 % VAT, 21:39:09 to 23:37:32
    # (1.973 h, billed as 2 h): total_cost 4.00 / 4.40.
    tariff = tariff_from_ocpi({
        "country_code": "BE", "party_id": "BEC", "id": "12", "currency": "EUR",
        "elements": [{"price_components": [
            {"type": "TIME", "price": 2.00, "vat": 10.0, "step_size": 300}]}],
        "last_updated": "2015-02-02T14:15:01Z"})
    start, end = at("2015-06-29T21:39:09"), at("2015-06-29T23:37:32")
    cost = compute_cost(tariff, start=start, end=end, observations=[
        MeterReading(start, 0), MeterReading(end, 15342)])
    ocpi = cost.to_ocpi()
    assert ocpi["total_cost"] == {"excl_vat": 4.0, "incl_vat": 4.4}
    assert ocpi["total_time_cost"] == {"excl_vat": 4.0, "incl_vat": 4.4}
    assert ocpi["total_energy"] == 15.342
    assert ocpi["total_time"] == 1.9731
    assert ocpi["charging_periods"] == [{
        "start_date_time": "2015-06-29T21:39:09Z",
        "dimensions": [{"type": "ENERGY", "volume": 15.342}, {"type": "TIME", "volume": 1.9731}],
        "tariff_id": "12"}]


# --------------------------------------------------------------------------------------------
# Sessions crossing boundaries

AMSTERDAM = "Europe/Amsterdam"


def test_time_of_day_boundary_in_local_time_with_interpolated_energy():
    # 0.40/kWh from 17:00 local (Amsterdam, UTC+1 in winter), 0.20 before; readings at 16:00,
    # 16:45, 17:30 and 18:00 local. The 17:00 cut falls between samples: the register there is
    # interpolated (7 kWh at 16:45, 13 kWh at 17:30 -> 9 kWh at 17:00).
    tariff = _tariff(
        {"price_components": [_pc("ENERGY", "0.40", vat=21)],
         "restrictions": {"start_time": "17:00", "end_time": "23:00"}},
        {"price_components": [_pc("ENERGY", "0.20", vat=21), _pc("TIME", 1, 60, vat=21)]})
    start = at("2024-01-15T15:00")  # 16:00 local
    observations = [MeterReading(start, 1000), MeterReading(at("2024-01-15T15:45"), 7000),
                    MeterReading(at("2024-01-15T16:30"), 13000),
                    MeterReading(at("2024-01-15T17:00"), 14000)]
    cost = compute_cost(tariff, start=start, end=at("2024-01-15T17:00"),
                        observations=observations, time_zone=AMSTERDAM, exact=True)
    assert [p.start_date_time for p in cost.charging_periods] == [start, at("2024-01-15T16:00")]
    assert [d["ENERGY"] for d in dims(cost)] == [8, 5]
    # 8 kWh x 0.20 + 5 kWh x 0.40; the TIME price comes from the fallback element all along.
    assert cost.total_energy_cost.excl_vat == Decimal("3.6")
    assert cost.total_time_cost.excl_vat == Decimal("2")


def test_day_boundary_and_day_of_week_change():
    # Weekend energy costs 0.40, weekdays 0.30. Friday 22:00 to Saturday 02:00 local (CEST),
    # 2 kWh an hour: 4 kWh on Friday, 4 kWh on Saturday, cut at local midnight.
    tariff = _tariff(
        {"price_components": [_pc("ENERGY", "0.40")],
         "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]}},
        {"price_components": [_pc("ENERGY", "0.30")]})
    start, end = at("2024-06-07T20:00"), at("2024-06-08T00:00")
    cost = compute_cost(tariff, start=start, end=end, time_zone=AMSTERDAM, exact=True,
                        observations=[MeterReading(start, 0), MeterReading(end, 8000)])
    assert [p.start_date_time for p in cost.charging_periods] == [start, at("2024-06-07T22:00")]
    assert cost.total_energy_cost.excl_vat == Decimal("2.8")


def test_date_restriction_is_local_and_end_date_exclusive():
    # A promotion valid on 2024-12-24 and 2024-12-25 local (end_date exclusive).
    tariff = _tariff(
        {"price_components": [_pc("TIME", 0)],
         "restrictions": {"start_date": "2024-12-24", "end_date": "2024-12-26"}},
        {"price_components": [_pc("TIME", 6)]})
    start = at("2024-12-23T22:00")  # 23:00 local on the 23rd
    cost = compute_cost(tariff, start=start, end=at("2024-12-26T00:00"), time_zone=AMSTERDAM,
                        exact=True)
    # Paid 23:00-24:00 on the 23rd and 00:00-01:00 local on the 26th: two hours.
    assert cost.total_time_cost.excl_vat == 12
    assert [p.start_date_time for p in cost.charging_periods] == [
        start, at("2024-12-23T23:00"), at("2024-12-25T23:00")]


def test_night_window_wraps_around_midnight():
    # end_time before start_time wraps to the next day: 0.10/kWh from 22:00 to 06:00 local,
    # 0.30 otherwise; 21:00 to 07:00 local at 1 kWh an hour: 8 h at night, 2 h by day.
    tariff = _tariff(
        {"price_components": [_pc("ENERGY", "0.10")],
         "restrictions": {"start_time": "22:00", "end_time": "06:00"}},
        {"price_components": [_pc("ENERGY", "0.30")]})
    start, end = at("2024-02-01T20:00"), at("2024-02-02T06:00")
    cost = compute_cost(tariff, start=start, end=end, time_zone=AMSTERDAM,
                        observations=[MeterReading(start, 0), MeterReading(end, 10000)])
    assert money(cost.total_cost) == ("1.40", None)
    assert len(cost.charging_periods) == 3


def test_tariffs_are_values():
    document = copy.deepcopy(SPEC["tariff_4_complex"])
    document["energy_mix"] = {"is_green_energy": False}
    assert tariff_from_ocpi(document) == tariff_from_ocpi(copy.deepcopy(document))
    assert hash(tariff_from_ocpi(document)) == hash(tariff_from_ocpi(copy.deepcopy(document)))


def test_kwh_threshold_crossing_is_interpolated():
    # 0.50/kWh for the first 10 kWh, then 0.30; TIME costs 1.00/h from 10 kWh on. Readings:
    # 6 kWh after 30 minutes, 14 kWh after 60: 10 kWh is reached 45 minutes in.
    tariff = _tariff(
        {"price_components": [_pc("ENERGY", "0.50")], "restrictions": {"max_kwh": 10}},
        {"price_components": [_pc("ENERGY", "0.30"), _pc("TIME", 1)],
         "restrictions": {"min_kwh": 10}})
    start = MONDAY
    observations = [MeterReading(start, 50000), MeterReading(start + 30 * MINUTE, 56000),
                    MeterReading(start + 60 * MINUTE, 64000)]
    cost = compute_cost(tariff, start=start, end=start + 60 * MINUTE,
                        observations=observations, exact=True)
    assert [p.start_date_time for p in cost.charging_periods] == [start, start + 45 * MINUTE]
    assert [d["ENERGY"] for d in dims(cost)] == [10, 4]
    assert cost.total_energy_cost.excl_vat == Decimal("6.2")
    assert cost.total_time_cost.excl_vat == Decimal("0.25")


def test_current_band_changes_at_samples():
    # TIME costs 2.00/h at 32 A or more, 1.00/h below; current drops to 16 A after 45 minutes.
    tariff = _tariff(
        {"price_components": [_pc("TIME", 2)], "restrictions": {"min_current": 32}},
        {"price_components": [_pc("TIME", 1)]})
    start = MONDAY
    observations = [MeterReading(start, 0, 22000, 96), MeterReading(start + 15 * MINUTE, 5500,
                                                                   22000, 95),
                    MeterReading(start + 45 * MINUTE, 16500, 3600, 16),
                    MeterReading(start + 60 * MINUTE, 17400, 3600, 16)]
    cost = compute_cost(tariff, start=start, end=start + 60 * MINUTE,
                        observations=observations, exact=True)
    assert cost.total_time_cost.excl_vat == Decimal("1.75")  # 45 min at 2.00, 15 at 1.00
    assert [(d["MIN_CURRENT"], d["MAX_CURRENT"]) for d in dims(cost)] == [(95, 96), (16, 16)]
    assert [(d["MIN_POWER"], d["MAX_POWER"]) for d in dims(cost)] == [(22, 22), (3.6, 3.6)]


def test_parking_after_charging_stops_and_charging_resumes():
    # Charging, 30 minutes parked (the car paused), charging again: TIME and PARKING_TIME are
    # billed from the periods, not from the wall clock.
    tariff = _tariff({"price_components": [_pc("TIME", 2, 60), _pc("PARKING_TIME", 6, 60),
                                           _pc("ENERGY", "0.30")]})
    start = MONDAY
    observations = [
        MeterReading(start, 0), MeterReading(start + 60 * MINUTE, 11000),
        StateChange(start + 60 * MINUTE, False), StateChange(start + 90 * MINUTE, True),
        MeterReading(start + 90 * MINUTE, 11000), MeterReading(start + 120 * MINUTE, 16000),
    ]
    cost = compute_cost(tariff, start=start, end=start + 120 * MINUTE,
                        observations=observations)
    assert cost.total_charging_time == Decimal("1.5")
    assert cost.total_parking_time == Decimal("0.5")
    assert money(cost.total_time_cost) == ("3.00", None)
    assert money(cost.total_parking_cost) == ("3.00", None)
    assert money(cost.total_energy_cost) == ("4.80", None)
    assert [list(d) for d in dims(cost)] == [["ENERGY", "TIME"], ["PARKING_TIME"],
                                             ["ENERGY", "TIME"]]


def test_spring_forward_in_amsterdam():
    # 2024-03-31: clocks jump from 02:00 to 03:00. TIME costs 2.00/h from 02:30 to 04:00 local,
    # 1.00/h otherwise. 02:30 never happens: the dearer price starts at the jump (01:00 UTC).
    # 00:00-02:00 UTC is two real hours (01:00-04:00 on the wall).
    tariff = _tariff(
        {"price_components": [_pc("TIME", 2)],
         "restrictions": {"start_time": "02:30", "end_time": "04:00"}},
        {"price_components": [_pc("TIME", 1)]})
    cost = compute_cost(tariff, start=at("2024-03-31T00:00"), end=at("2024-03-31T02:00"),
                        time_zone=AMSTERDAM, exact=True)
    assert [p.start_date_time for p in cost.charging_periods] == [
        at("2024-03-31T00:00"), at("2024-03-31T01:00")]
    assert cost.total_time == 2
    assert cost.total_time_cost.excl_vat == 3


def test_fall_back_in_amsterdam():
    # 2024-10-27: clocks go back from 03:00 to 02:00, so 02:00-03:00 local happens twice.
    # TIME costs 2.00/h from 02:00 to 03:00 local, 1.00/h otherwise. 01:30 CEST to 03:30 CET is
    # three real hours, two of them in the dearer hour: 0.5 + 4 + 0.5 = 5.00.
    tariff = _tariff(
        {"price_components": [_pc("TIME", 2)],
         "restrictions": {"start_time": "02:00", "end_time": "03:00"}},
        {"price_components": [_pc("TIME", 1)]})
    cost = compute_cost(tariff, start=at("2024-10-26T23:30"), end=at("2024-10-27T02:30"),
                        time_zone=AMSTERDAM, exact=True)
    assert cost.total_time == 3
    assert cost.total_time_cost.excl_vat == 5
    assert [p.start_date_time for p in cost.charging_periods] == [
        at("2024-10-26T23:30"), at("2024-10-27T00:00"), at("2024-10-27T02:00")]


def test_vat_unknown_only_where_it_matters():
    # A component without VAT makes the amount including VAT unknowable, but only for the
    # figures it contributes to; a cap with VAT cannot be applied to an unknown amount.
    tariff = _tariff({"price_components": [_pc("FLAT", 1, vat=21), _pc("ENERGY", "0.30")]},
                     max_price={"excl_vat": 5, "incl_vat": 6})
    cost = compute_cost(tariff, **charge(MONDAY, 60, 20))
    assert money(cost.total_fixed_cost) == ("1.00", "1.21")
    assert money(cost.total_energy_cost) == ("6.00", None)
    assert money(cost.total_cost) == ("5.00", None)


def test_minimum_price_excluding_and_including_vat_apply_separately():
    # OCPI: both bounds apply, each to its own figure. Energy at 0 % VAT makes the session's
    # incl. VAT cost equal to its excl. cost, so only the incl. VAT minimum bites here.
    tariff = _tariff({"price_components": [_pc("ENERGY", "0.50", vat=0)]},
                     min_price={"excl_vat": 1, "incl_vat": "1.50"})
    cost = compute_cost(tariff, **charge(MONDAY, 60, "2.5"))
    assert money(cost.total_cost) == ("1.25", "1.50")


def test_currency_without_minor_unit_is_rounded_to_whole_units():
    tariff = tariff_from_ocpi({"country_code": "JP", "party_id": "OV2", "id": "Y",
                               "currency": "JPY", "last_updated": "2024-01-01T00:00:00Z",
                               "elements": [{"price_components": [_pc("ENERGY", 30, vat=10)]}]})
    cost = compute_cost(tariff, **charge(MONDAY, 60, "12.345"))
    assert money(cost.total_cost) == ("370", "407")


def test_zero_length_session_pays_the_flat_fee_only():
    cost = compute_cost(spec("tariff_9_025kwh_start"), start=MONDAY, end=MONDAY)
    assert money(cost.total_cost) == ("0.50", "0.60")
    assert dims(cost) == [{"ENERGY": 0, "TIME": 0}]


def test_live_estimate_is_the_same_formula():
    tariff = spec("tariff_10_025kwh_parking_start")
    kwargs = charge(MONDAY, 90, 20, park=40)
    for minutes in (0, 30, 89, 100, 130):
        now = MONDAY + minutes * MINUTE
        live = estimate(tariff, start=MONDAY, now=now, observations=kwargs["observations"])
        assert live == compute_cost(tariff, start=MONDAY, end=now,
                                    observations=kwargs["observations"])
    final = compute_cost(tariff, **kwargs)
    assert live.total_cost == final.total_cost


def test_observations_in_any_order_and_compiled_tariffs_give_the_same_cost():
    tariff = spec("tariff_4_complex")
    kwargs = charge(at("2018-12-08T13:30"), 114, 40, park=71, current_a=43)
    reference = compute_cost(tariff, **kwargs)
    shuffled = dict(kwargs, observations=list(reversed(kwargs["observations"])))
    assert compute_cost(compile_tariff(tariff), **shuffled) == reference


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"start": dt.datetime(2024, 1, 1), "end": MONDAY}, "start must be timezone-aware"),
    ({"start": MONDAY, "end": MONDAY - MINUTE}, "end must not be before start"),
    ({"start": MONDAY, "end": MONDAY + MINUTE, "reservation": Reservation(MONDAY + MINUTE)},
     "a reservation must start before the session"),
    ({"start": MONDAY, "end": MONDAY + MINUTE,
      "reservation": Reservation(MONDAY - MINUTE, expired=True)},
     "an expired reservation has no session"),
    ({"start": MONDAY, "end": MONDAY + MINUTE,
      "observations": [MeterReading(dt.datetime(2024, 1, 1), 0)]},
     "meter reading's timestamp must be timezone-aware"),
])
def test_bad_sessions_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_cost(spec("tariff_8_simple_025kwh"), **kwargs)


def test_cdr_fields_in_ocpi_shape():
    cost = compute_cost(spec("tariff_10_025kwh_parking_start"),
                        **charge(MONDAY, 90, "20.12345", park=40, power_w=13415.6))
    ocpi = cost.to_ocpi()
    assert ocpi["total_cost"] == {"excl_vat": 7.03, "incl_vat": 7.93}
    assert ocpi["total_energy"] == 20.1235  # four decimals
    assert ocpi["total_parking_time"] == 0.6667
    assert ocpi["charging_periods"][1] == {
        "start_date_time": "2018-12-03T01:30:00Z",
        "dimensions": [{"type": "PARKING_TIME", "volume": 0.6667},
                       {"type": "MIN_POWER", "volume": 0.0}, {"type": "MAX_POWER", "volume": 0.0}],
        "tariff_id": "18"}
    assert {d["type"] for d in ocpi["charging_periods"][0]["dimensions"]} == {
        "ENERGY", "TIME", "MIN_POWER", "MAX_POWER"}
    assert set(CdrDimensionType) >= {CdrDimensionType(d["type"])
                                     for p in ocpi["charging_periods"] for d in p["dimensions"]}
    assert json.loads(json.dumps(ocpi)) == ocpi


# --------------------------------------------------------------------------------------------
# Properties

PROPERTIES = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])
TIMES = ["00:00", "06:30", "07:00", "12:00", "17:00", "20:00", "22:00", "23:30", "02:30"]
DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
STEPS = {"ENERGY": [1, 100, 500], "TIME": [1, 60, 300, 900], "PARKING_TIME": [1, 60, 300, 900],
         "FLAT": [1]}
PRICES = st.decimals(min_value=0, max_value=5, places=2)


@st.composite
def ranges(draw: st.DrawFn, low: int, high: int) -> tuple[int | None, int | None]:
    a, b = sorted(draw(st.lists(st.integers(low, high), min_size=2, max_size=2, unique=True)))
    return (a if draw(st.booleans()) else None), (b if draw(st.booleans()) else None)


@st.composite
def restrictions(draw: st.DrawFn, *, kwh: bool, electric: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["start_time"] = draw(st.sampled_from(TIMES))
    if draw(st.booleans()):
        out["end_time"] = draw(st.sampled_from(TIMES))
    if draw(st.integers(0, 3)) == 0:
        out["day_of_week"] = draw(st.lists(st.sampled_from(DAYS), min_size=1, unique=True))
    pairs = [("min_duration", "max_duration", 0, 6 * 3600)]
    if kwh:
        pairs.append(("min_kwh", "max_kwh", 0, 60))
    if electric:
        pairs += [("min_power", "max_power", 0, 50), ("min_current", "max_current", 0, 64)]
    for low_name, high_name, low, high in pairs:
        if draw(st.integers(0, 2)) == 0:
            a, b = draw(ranges(low, high))
            if a is not None:
                out[low_name] = a
            if b is not None:
                out[high_name] = b
    return out


@st.composite
def tariffs(draw: st.DrawFn, *, kwh: bool = True, electric: bool = False,
            caps: bool = False) -> Tariff:
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        kinds = draw(st.lists(st.sampled_from(list(STEPS)), min_size=1, unique=True))
        components = []
        for kind in kinds:
            component = {"type": kind, "price": str(draw(PRICES)),
                         "step_size": draw(st.sampled_from(STEPS[kind]))}
            vat = draw(st.sampled_from([None, 0, 10, 21]))
            if vat is not None:
                component["vat"] = vat
            components.append(component)
        element: dict[str, Any] = {"price_components": components}
        if draw(st.integers(0, 3)):
            element["restrictions"] = draw(restrictions(kwh=kwh, electric=electric))
        elements.append(element)
    extra = {}
    if caps and draw(st.booleans()):
        extra["min_price"] = {"excl_vat": str(draw(PRICES)), "incl_vat": 5}
    if caps and draw(st.booleans()):
        extra["max_price"] = {"excl_vat": str(draw(PRICES) + 5)}
    return _tariff(*elements, **extra)


class Curve:
    """A session on a piecewise-linear energy curve, sampled coarsely (at its knots) or finely.

    Each segment is ``steps`` samples ``seconds`` apart, each ``wh`` more than the last, with
    one measured power and current (or none) for the whole segment: both samplings describe
    exactly the same session.
    """

    def __init__(self, start: dt.datetime, segments: list[tuple[int, int, int, Any, Any]],
                 tail: int, changes: list[tuple[int, bool]], reserved: int | None) -> None:
        self.start = start
        self.segments = segments
        self.changes = changes
        self.reserved = reserved
        seconds = sum(steps * gap for steps, gap, _, _, _ in segments)
        self.end = start + dt.timedelta(seconds=seconds + tail)

    def observations(self, *, fine: bool, more_wh: list[int] | None = None) -> list[Any]:
        out: list[Any] = []
        t, energy = self.start, 1_000_000
        for j, (steps, gap, wh, power, current) in enumerate(self.segments):
            wh += more_wh[j] if more_wh else 0
            for k in range(steps if fine else 1):
                out.append(MeterReading(t + dt.timedelta(seconds=k * gap), energy + k * wh,
                                        power, current))
            t += dt.timedelta(seconds=steps * gap)
            energy += steps * wh
        out.append(MeterReading(t, energy))
        out += [StateChange(self.start + dt.timedelta(seconds=s), c) for s, c in self.changes]
        return out

    def cost(self, tariff: Tariff, *, fine: bool = False, end: dt.datetime | None = None,
             more_wh: list[int] | None = None) -> CostBreakdown:
        reservation = None
        if self.reserved is not None:
            reservation = Reservation(self.start - dt.timedelta(seconds=self.reserved))
        return compute_cost(tariff, start=self.start, end=end or self.end, exact=True,
                            observations=self.observations(fine=fine, more_wh=more_wh),
                            reservation=reservation, time_zone=AMSTERDAM)


STARTS = st.one_of(
    st.integers(0, 366 * 24 * 60).map(lambda m: at("2024-01-01T00:00") + m * MINUTE),
    # Around the daylight saving time changes of Amsterdam.
    st.integers(-180, 180).map(lambda m: at("2024-03-31T01:00") + m * MINUTE),
    st.integers(-180, 180).map(lambda m: at("2024-10-27T01:00") + m * MINUTE),
)


@st.composite
def curves(draw: st.DrawFn, *, reservations: bool = True) -> Curve:
    segments = draw(st.lists(st.tuples(
        st.integers(1, 5), st.integers(30, 1500), st.integers(0, 3000),
        st.one_of(st.none(), st.integers(0, 50000)), st.one_of(st.none(), st.integers(0, 64)),
    ), min_size=1, max_size=6))
    length = sum(steps * gap for steps, gap, _, _, _ in segments)
    changes = draw(st.lists(st.tuples(st.integers(0, length + 600), st.booleans()), max_size=3))
    reserved = draw(st.one_of(st.none(), st.integers(0, 3600))) if reservations else None
    return Curve(draw(STARTS), segments, draw(st.integers(0, 1800)), changes, reserved)


def rounding_slack(tariff: Tariff) -> Decimal:
    """The most the step-size rounding can give back: a step at the dearest price, per group."""
    slack = Decimal(0)
    for kinds, unit in (({"ENERGY"}, 1000), ({"TIME", "PARKING_TIME"}, 3600)):
        found = [c for e in tariff.elements for c in e.price_components if c.type in kinds]
        if found:
            slack += max(c.price for c in found) * max(c.step_size for c in found) / unit
    return slack


TINY = Decimal("1e-18")


@PROPERTIES
@given(tariffs(electric=True, caps=True), curves())
def test_totals_equal_the_sum_of_the_periods(tariff, curve):
    cost = curve.cost(tariff)
    uncapped = cost.uncapped_total_cost
    assert abs(uncapped.excl_vat - sum(p.excl_vat for p in cost.period_costs)) < TINY
    parts = [cost.total_fixed_cost, cost.total_energy_cost, cost.total_time_cost,
             cost.total_parking_cost, cost.total_reservation_cost]
    assert abs(sum(p.excl_vat for p in parts) - uncapped.excl_vat) < TINY
    if any(p.incl_vat is None for p in cost.period_costs):
        assert uncapped.incl_vat is None
    else:
        assert abs(sum(p.incl_vat for p in parts) - uncapped.incl_vat) < TINY
        assert abs(uncapped.incl_vat - sum(p.incl_vat for p in cost.period_costs)) < TINY
    low, high = tariff.min_price, tariff.max_price
    expected = uncapped.excl_vat
    expected = max(expected, low.excl_vat) if low else expected
    expected = min(expected, high.excl_vat) if high else expected
    assert cost.total_cost.excl_vat == expected
    # Volumes add up too: the periods cover the session, and the reservation before it.
    volume = {kind: Decimal(0) for kind in CdrDimensionType}
    for period in cost.charging_periods:
        for dimension in period.dimensions:
            volume[dimension.type] += dimension.volume
    assert abs(volume[CdrDimensionType.TIME] - cost.total_charging_time) < TINY
    assert abs(volume[CdrDimensionType.PARKING_TIME] - cost.total_parking_time) < TINY
    assert abs(cost.total_charging_time + cost.total_parking_time - cost.total_time) < TINY
    assert abs(volume[CdrDimensionType.RESERVATION_TIME] - cost.total_reservation_time) < TINY
    assert abs(volume[CdrDimensionType.ENERGY] - cost.total_energy) < TINY
    starts = [p.start_date_time for p in cost.charging_periods]
    assert starts == sorted(starts) and starts[0] == cost.start_date_time


@PROPERTIES
@given(tariffs(caps=True), curves(), st.integers(1, 6 * 3600))
def test_cost_never_decreases_as_time_grows(tariff, curve, seconds):
    # Pricing the same session to a later end never costs less, up to the step-size remainder
    # that OCPI moves to whichever period is last (the specification's own rule can give back
    # at most one step at the dearest price).
    before = curve.cost(tariff)
    after = curve.cost(tariff, end=curve.end + dt.timedelta(seconds=seconds))
    assert after.total_cost.excl_vat >= before.total_cost.excl_vat - rounding_slack(tariff)
    assert after.total_energy >= before.total_energy
    # Without step sizes to give back, it never decreases at all.
    if rounding_slack(tariff) == 0:
        assert after.total_cost.excl_vat >= before.total_cost.excl_vat


@PROPERTIES
@given(tariffs(kwh=False, caps=True), curves(), st.data())
def test_cost_never_decreases_as_energy_grows(tariff, curve, data):
    # More energy in the same timeline (restrictions on kWh would legitimately change which
    # element prices the time, so they are left out here).
    more = data.draw(st.lists(st.integers(0, 2000), min_size=len(curve.segments),
                              max_size=len(curve.segments)))
    before = curve.cost(tariff)
    after = curve.cost(tariff, more_wh=more)
    assert after.total_energy >= before.total_energy
    assert after.total_cost.excl_vat >= before.total_cost.excl_vat - rounding_slack(tariff)
    assert after.total_time_cost == before.total_time_cost
    assert after.total_parking_cost == before.total_parking_cost


@PROPERTIES
@given(tariffs(electric=True, caps=True), curves())
def test_finer_sampling_never_changes_the_cost(tariff, curve):
    # The same session sampled at every step instead of at its knots: the same periods and the
    # same money, up to the 28-digit arithmetic of interpolation (far below a cent).
    coarse, fine = curve.cost(tariff), curve.cost(tariff, fine=True)
    assert [p.start_date_time for p in fine.charging_periods] == [
        p.start_date_time for p in coarse.charging_periods]
    for name in ("total_cost", "uncapped_total_cost", "total_energy_cost", "total_time_cost",
                 "total_parking_cost", "total_fixed_cost", "total_reservation_cost"):
        a, b = getattr(coarse, name), getattr(fine, name)
        assert abs(a.excl_vat - b.excl_vat) < Decimal("1e-9"), name
        assert (a.incl_vat is None) == (b.incl_vat is None), name
        if a.incl_vat is not None:
            assert abs(a.incl_vat - b.incl_vat) < Decimal("1e-9"), name
    assert fine.total_time == coarse.total_time
    assert abs(fine.total_energy - coarse.total_energy) < Decimal("1e-9")
