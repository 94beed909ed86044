"""Benchmarks: commands that print one JSON line of figures, as ratios against baselines measured in
the same run. Not part of the services: `carewatch bench …` runs them from a checkout."""
