"""Sensor data: recordings, windows, resampling, normalization, splits and the sources that load them."""
