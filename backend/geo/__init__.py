"""Region geometry ↔ H3 cell ranges: pure functions, no models (DESIGN.md decisions 1 and 2)."""
