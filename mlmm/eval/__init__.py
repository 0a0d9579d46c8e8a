"""mlmm.eval."""
