"""Airspeed velocity (asv) benchmarks for skinvert."""
