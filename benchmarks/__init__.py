"""Benchmarks of moveworks-async against raw aiohttp and its peers: ``python -m benchmarks``."""
