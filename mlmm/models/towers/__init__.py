"""mlmm.models.towers."""
