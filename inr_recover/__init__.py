"""inr-recover: recover multi-dimensional data with implicit neural representations."""

__version__ = "0.1.0"
