"""Feature networks."""
