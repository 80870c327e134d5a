"""The plugins bundled with OpenV2X; each package is registered through its entry point."""
