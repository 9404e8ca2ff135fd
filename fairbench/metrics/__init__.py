"""Error rates, thresholds, intervals, references and summary measures (the README's
"Metric definitions": NIST FRVT/FRTE and ISO/IEC 19795)."""
