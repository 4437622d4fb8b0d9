"""Dask cluster profiles sized on demand across providers, and the cost of every job.

No pywps or flask here, and importing this package starts nothing. A job engine uses it so::

    from cluster.cost import compute_cost
    from cluster.estimate import load_calibration
    from cluster.events import JobEventLog
    from cluster.lifecycle import SharedClusters, open_cluster, sweep_orphans
    from cluster.profiles import load_profiles
    from cluster.registry import ClusterRegistry
    from cluster.sizing import workers_for_profile

    profiles = load_profiles(path_from_settings, missing_ok=True)      # once per process
    shared, registry = SharedClusters(), ClusterRegistry(var_dir / "clusters")
    calibration = load_calibration(calibration_path_or_None)

    profile = profiles.get(requested_name_or_None)
    n = workers_for_profile(profile, tiles, calibration.seconds_per_tile, requested_max=max_workers)
    log = JobEventLog()
    with open_cluster(profile, n, job_id, registry=registry, shared=shared, events=log,
                      task_durations=calibration.task_durations()) as client:
        ...  # submit tasks keyed "<stage>-<tile>", e.g. "matching-r0c1"
    report = compute_cost(log.events, profile) if log.events else None   # also after a failure

    sweep_orphans(registry, alive_job_ids)    # periodically, and at start-up
    shared.close_all()                        # at shutdown
"""
