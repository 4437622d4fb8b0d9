"""Before a job's first task: do the cluster's workers run the server's software?

``client.get_versions(check=True)`` only warns, and knows neither this project, S2P nor GDAL. Here the
probe of :mod:`cluster.software_probe` runs on every worker (shipped by value, so a worker without this
project still answers) and in the server; any difference fails the job at once with
:class:`~cluster.errors.WorkerSoftwareError`, naming the worker and the package, instead of a task dying
later on an ImportError or on a changed function.

All workers of one per-job cluster are started from one image or environment (the profile's), so the
workers present when the check runs stand for those that join later.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping

import cloudpickle
from distributed import Client

from cluster import software_probe
from cluster.errors import WorkerSoftwareError
from cluster.software_probe import installed_software

Software = Mapping[str, str]


@functools.cache
def server_software() -> Software:
    """This process's software (read once per process)."""
    return installed_software()


def workers_software(client: Client) -> dict[str, Software | BaseException]:
    """What each worker of ``client``'s cluster runs, or the error its probe raised."""
    cloudpickle.register_pickle_by_value(sys.modules[software_probe.__name__])
    answers: dict[str, Software | BaseException] = client.run(installed_software, on_error="return")
    return answers


def differences(server: Software, workers: Mapping[str, Software | BaseException]) -> dict[str, list[str]]:
    """For each worker that differs from ``server``: one text per package, e.g.
    ``space-wps: worker has absent, server has 0.1.0``. Workers that could not be reached are left out."""
    found: dict[str, list[str]] = {}
    for worker, software in sorted(workers.items()):
        if isinstance(software, OSError | TimeoutError):
            continue  # the worker left while asked (an adaptive cluster retiring it): nothing to run there
        if isinstance(software, BaseException):
            found[worker] = [f"the software probe failed: {type(software).__name__}: {software}"]
            continue
        texts = [
            f"{name}: worker has {software.get(name, 'absent')}, server has {version}"
            for name, version in server.items()
            if software.get(name, "absent") != version
        ]
        if texts:
            found[worker] = texts
    return found


def check_workers(client: Client, profile: str) -> None:
    """Raise :class:`WorkerSoftwareError` if a worker of ``client`` runs other software than the server."""
    found = differences(server_software(), workers_software(client))
    if found:
        raise WorkerSoftwareError(profile, found)
