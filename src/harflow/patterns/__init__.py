"""Activity patterns: online change detection and long-horizon analytics over activity timelines.

Pure analytics: nothing here imports FastAPI or SQLAlchemy; the service and the benchmarks build on it.
"""
