"""OGC API - Processes - Part 1: Core under ``/ogcapi``, on the same processes and job store as WPS.

API logic in :mod:`.api` (framework-agnostic), the Flask adapters in :mod:`.blueprint`.
"""
