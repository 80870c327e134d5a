"""Templates and static assets of the portal (package data)."""
