"""Error rates, thresholds, intervals and summary measures (DESIGN.md section 3)."""
