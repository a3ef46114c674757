"""Data sources and X's checks: arrays, tensors, raw tables, Dask collections."""
