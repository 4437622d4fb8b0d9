"""OGC WPS server for space data. Importing this package starts nothing."""

__version__ = "0.1.0"
