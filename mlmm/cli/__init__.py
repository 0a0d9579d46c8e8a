"""mlmm.cli."""
