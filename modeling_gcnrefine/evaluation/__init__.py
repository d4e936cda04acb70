"""Measuring poses: per-sequence records and their metrics, classical temporal filters (the baselines a
refiner must beat), and interactive figures.
"""
