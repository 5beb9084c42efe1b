"""Benchmarks: commands that print one JSON object measured in one run."""
