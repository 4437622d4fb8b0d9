"""S2P stereo DSMs as one Dask task graph (domain code: imports neither pywps nor flask).

Public API, in the order an adapter calls it:

- `inputs.build_request(images, roi_pixels=... | roi_lonlat=..., ...) -> StereoRequest`
  validates everything and raises `errors.InputError` subclasses with messages for users;
- `graph.run_stereo(request, workdir, client, progress, cancelled) -> StereoResult`
  runs s2p's steps as one graph (resumable in the same `workdir`; raises
  `errors.TileFailedError` or `errors.StereoCancelledError`);
- `products.write_products(request, result, destination, point_cloud=..., quicklook=..., cluster_info=...)`
  writes the COG DSM, quicklook and merged PLY and returns them with the JSON report.

`graph.task_duration_config(tile_pixels)` is the scheduler configuration that tells Dask
(and adaptive scaling) what the steps cost.
"""
