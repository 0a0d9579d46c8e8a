"""mlmm.models."""
