"""Activity patterns: online change detection and long-horizon analytics over activity timelines."""
