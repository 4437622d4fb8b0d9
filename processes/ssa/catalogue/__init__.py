"""The SSA catalogue: objects, sensors, messages, tracks, observations, orbits and tasking.

Public API (what the WPS adapters call); the tables are ``schema.metadata`` for migrations.
"""

from processes.ssa.catalogue.export import (
    ObservationFormat,
    OrbitFormat,
    export_objects,
    export_observations,
    export_orbits,
    ground_tracks_geojson,
    split_antimeridian,
)
from processes.ssa.catalogue.ingest import IngestSummary, RejectedPart, add_objects, detect_kind, ingest
from processes.ssa.catalogue.queries import (
    Cone,
    ObservationPage,
    ObservationRow,
    query_objects,
    query_observations,
    query_orbits,
)
from processes.ssa.catalogue.schema import create_schema, drop_schema, make_engine, metadata
from processes.ssa.catalogue.sensors import add_sensor, get_sensor, list_sensors, load_sensors, parse_sensors
from processes.ssa.catalogue.stats import CatalogueStats, catalogue_stats
from processes.ssa.catalogue.tasking import (
    DEFAULT_PRIORITY,
    MAX_REQUEST_WINDOW,
    PRIORITIES,
    Decision,
    TaskingDecision,
    TaskingRequest,
    TaskingStatus,
    WindowFinder,
    accept_proposal,
    advance_tasking,
    cancel_tasking,
    choose_sensor,
    fail_tasking,
    get_tasking,
    list_tasking,
    measuring_kinds,
    submit_tasking,
)

__all__ = [
    "DEFAULT_PRIORITY",
    "MAX_REQUEST_WINDOW",
    "PRIORITIES",
    "CatalogueStats",
    "Cone",
    "Decision",
    "IngestSummary",
    "ObservationFormat",
    "ObservationPage",
    "ObservationRow",
    "OrbitFormat",
    "RejectedPart",
    "TaskingDecision",
    "TaskingRequest",
    "TaskingStatus",
    "WindowFinder",
    "accept_proposal",
    "add_objects",
    "add_sensor",
    "advance_tasking",
    "cancel_tasking",
    "catalogue_stats",
    "choose_sensor",
    "create_schema",
    "detect_kind",
    "drop_schema",
    "export_objects",
    "export_observations",
    "export_orbits",
    "fail_tasking",
    "get_sensor",
    "get_tasking",
    "ground_tracks_geojson",
    "ingest",
    "list_sensors",
    "list_tasking",
    "load_sensors",
    "make_engine",
    "measuring_kinds",
    "metadata",
    "parse_sensors",
    "query_objects",
    "query_observations",
    "query_orbits",
    "split_antimeridian",
    "submit_tasking",
]
