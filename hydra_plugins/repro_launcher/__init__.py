"""Hydra launcher plugin `local_parallel`: each job of a sweep in its own
process, at most `n_jobs` at a time (local_parallel.py)."""
