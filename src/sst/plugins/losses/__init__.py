"""Style losses."""
