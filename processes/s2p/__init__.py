"""S2P stereo DSMs as one Dask task graph (domain code: no WPS, no web framework)."""
