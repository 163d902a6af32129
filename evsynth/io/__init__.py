"""Input and output: atomic, deterministic file writes and spreadsheet-safe CSV."""
