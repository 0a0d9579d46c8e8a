"""mlmm.text."""
