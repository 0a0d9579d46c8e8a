"""mlmm.engine."""
