"""Weather providers behind one interface.

Registered like any third-party plugin (entry point ``weather`` in group ``openv2x.plugins``).
It does not contribute anything yet: it implements no hooks, adds no routes, tables or settings.
Its features arrive with their own work; until then enabling or disabling it changes nothing.
"""
