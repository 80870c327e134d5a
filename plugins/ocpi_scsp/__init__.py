"""OCPI 2.2.1 Smart Charging Service Provider role and the optimisation engine.

Registered like any third-party plugin (entry point ``ocpi_scsp`` in group ``openv2x.plugins``).
It does not contribute anything yet: it implements no hooks, adds no routes, tables or settings.
Its features arrive with their own work; until then enabling or disabling it changes nothing.
"""
