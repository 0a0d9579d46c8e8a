"""mlmm.models.heads."""
