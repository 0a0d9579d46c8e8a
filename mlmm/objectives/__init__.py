"""mlmm.objectives."""
