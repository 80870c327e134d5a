"""Simulated charging stations for OCPP 1.6, 2.0.1 and 2.1 (``openv2x simulate``).

:mod:`.fleet` connects and reconnects stations and counts what they send; :mod:`.v16` and
:mod:`.v2` are the stations, built on the ``ocpp`` package's ChargePoint classes; :mod:`.cli`
is the command. Users try an installation with it; the tests and the benchmark use it too.
"""
