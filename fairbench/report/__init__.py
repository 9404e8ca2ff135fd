"""Reports: tables (CSV, Markdown) rebuilt from a stored run alone."""
