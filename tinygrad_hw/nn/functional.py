"""Neural-network functions (filled in by the nn primitives)."""
