"""mlmm.losses."""
