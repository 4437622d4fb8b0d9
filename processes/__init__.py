"""The shipped processes: thin WPS adapters (``wps_<identifier>.py``) over domain packages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wps_server.config import Settings
    from wps_server.jobs.runner import PeriodicTask
    from wps_server.process import Process


def shipped_processes(settings: Settings) -> list[Process]:
    """The process list, built after the configuration is loaded."""
    from processes import wps_s2p_estimate, wps_s2p_stereo

    return [wps_s2p_stereo.process(settings), wps_s2p_estimate.process(settings), *ssa_processes(settings)]


def ssa_processes(settings: Settings) -> list[Process]:
    """The SSA catalogue processes, sharing one catalogue connection (opened on first use)."""
    from processes import (
        wps_ssa_ingest,
        wps_ssa_predict_passes,
        wps_ssa_query_objects,
        wps_ssa_query_observations,
        wps_ssa_query_orbits,
        wps_ssa_submit_tasking,
        wps_ssa_tasking_status,
        wps_ssa_update_tasking,
    )
    from processes.ssa_config import CatalogueConnection, SSASettings, check_sensors_file

    ssa = SSASettings.from_settings(settings)
    check_sensors_file(ssa)
    catalogue = CatalogueConnection(settings.database_url, ssa)
    return [
        module.process(catalogue)
        for module in (
            wps_ssa_ingest,
            wps_ssa_query_objects,
            wps_ssa_query_orbits,
            wps_ssa_query_observations,
            wps_ssa_predict_passes,
            wps_ssa_submit_tasking,
            wps_ssa_tasking_status,
            wps_ssa_update_tasking,
        )
    ]


def periodic_tasks(settings: Settings) -> list[PeriodicTask]:
    """What the job runner does now and then for these processes: the SSA catalogue's upkeep
    (closing tasking requests whose windows ended, planner statistics), every ``[ssa]
    maintenance_interval`` seconds."""
    from processes.ssa_config import CatalogueConnection, SSASettings, maintain_catalogue
    from wps_server.jobs.runner import PeriodicTask

    ssa = SSASettings.from_settings(settings)
    catalogue = CatalogueConnection(settings.database_url, ssa)
    return [
        PeriodicTask(
            "ssa catalogue maintenance", ssa.maintenance_interval, lambda: maintain_catalogue(catalogue)
        )
    ]
