"""mlmm.data."""
