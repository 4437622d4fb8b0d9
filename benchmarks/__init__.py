"""Benchmarks, side by side with the alternative a user would pick; run with `make bench`."""
