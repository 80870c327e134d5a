"""OpenV2X: an open, plugin-based Charging Station Management System."""

__version__ = "0.1.0"
