"""OCPP 2.0.1 and 2.1 (V2X, Plug & Charge).

Registered like any third-party plugin (entry point ``ocpp201`` in group ``openv2x.plugins``).
It does not contribute anything yet: it implements no hooks, adds no routes, tables or settings.
Its features arrive with their own work; until then enabling or disabling it changes nothing.
"""
