"""Imported by the Dask scheduler and workers that ``serve`` starts (``--preload``), before they start
anything: Python's warnings (a taken dashboard port, a library's deprecation) become log lines, in
the format Dask's logging was given (JSON under ``serve``), instead of bare text on stderr."""

import logging

logging.captureWarnings(True)
