"""Whole documents (issue 21): formats that are read into translation units and written back, and the jobs that
translate them as bulk work."""
