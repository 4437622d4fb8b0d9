"""The ``wps-server`` command: serve, run jobs, and operate on them. Every command honours --config."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wps_server.config import ConfigError, Settings, config_files, load_settings
from wps_server.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from processes.ssa.catalogue import IngestSummary
    from processes.ssa_config import SSASettings


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config

    def settings(self) -> Settings:
        try:
            return load_settings(self.files())
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    def files(self) -> list[Any]:
        try:
            return config_files(self.config)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None


@click.group()
@click.option(
    "--config", "-c", type=click.Path(dir_okay=False), help="Configuration file (default: $PYWPS_CFG)."
)
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """OGC WPS server for space data."""
    ctx.obj = Context(config)


@main.command()
@click.option("--host", help="Address to listen on (default from the configuration).")
@click.option("--port", type=int, help="Port (default from the configuration).")
@click.option("--workers", type=click.IntRange(1, 64), help="Gunicorn worker processes.")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve /wps with gunicorn, a local Dask cluster and the job runner; Ctrl-C stops them all."""
    from wps_server.database import make_engine, migrate
    from wps_server.execution import check_server_storage
    from wps_server.registry import load_processes
    from wps_server.supervisor import Supervisor

    settings = obj.settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        load_processes(settings)
        check_server_storage(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(make_engine(settings.database_url))
    supervisor = Supervisor(
        settings,
        [str(f) for f in obj.files()],
        host or settings.host,
        settings.port if port is None else port,
        workers or settings.workers,
    )
    sys.exit(supervisor.run())


@main.command()
@click.pass_obj
def runner(obj: Context) -> None:
    """Run queued jobs (started by serve; run it alone next to an external gunicorn)."""
    from wps_server.cluster_client import SchedulerConnection
    from wps_server.clusters import JobClusters
    from wps_server.database import make_engine
    from wps_server.execution import check_server_storage
    from wps_server.jobs.runner import Runner
    from wps_server.jobs.store import JobStore
    from wps_server.registry import load_processes

    settings = obj.settings()
    configure_logging(settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url)
    try:  # the processes and their periodic tasks read their own settings: a bad one stops here
        check_server_storage(settings)
        job_runner = Runner(
            settings,
            load_processes(settings),
            JobStore(engine),
            SchedulerConnection(settings.dask.scheduler),
            clusters=JobClusters(settings, settings.dask.scheduler),
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    signal.signal(signal.SIGTERM, lambda *_: job_runner.stop())
    signal.signal(signal.SIGINT, lambda *_: job_runner.stop())
    job_runner.run()


@main.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Bring the database schema up to date."""
    from wps_server.database import make_engine
    from wps_server.database import migrate as upgrade

    upgrade(make_engine(obj.settings().database_url))
    click.echo("database is up to date")


@main.command()
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--roi", help="x,y,w,h on the first image (default: the whole overlap).")
@click.option("--tile-size", type=click.IntRange(100, 5000), default=300, show_default=True)
@click.option("--s2p-options", help="A JSON object of S2P settings, as s2p_stereo takes them.")
@click.option("--profile", default="local", show_default=True, help="The cluster profile to measure on.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: [cluster] calibration_file, else DATA_DIR/calibration.json).",
)
@click.pass_obj
def calibrate(
    obj: Context,
    images: tuple[Path, ...],
    roi: str | None,
    tile_size: int,
    s2p_options: str | None,
    profile: str,
    output: Path | None,
) -> None:
    """Measure S2P's seconds per tile per stage here, for s2p_estimate (a real run of IMAGES)."""
    from tqdm import tqdm

    from cluster.errors import ClusterError
    from cluster.profiles import load_profiles
    from processes.s2p.calibration import measure
    from processes.s2p.errors import S2PError
    from processes.s2p.inputs import parse_s2p_options

    settings = obj.settings()
    section = settings.section("cluster")
    target = output or Path(section.get("calibration_file") or settings.data_dir / "calibration.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=100, unit="%", desc="calibrating") as bar:

        def advance(percent: float, message: str) -> None:
            bar.set_postfix_str(message[:40])
            bar.update(max(0.0, percent - bar.n))

        try:
            chosen = load_profiles(section.get("profiles_file") or None, missing_ok=True).get(profile)
            options = parse_s2p_options(s2p_options) if s2p_options else None
            result = measure(
                list(images),
                target,
                chosen,
                roi_pixels=roi,
                tile_size=tile_size,
                s2p_options=options,
                progress=advance,
            )
        except (S2PError, ClusterError) as exc:
            raise click.ClickException(str(exc)) from None
    for stage, seconds in result.stages.items():
        click.echo(f"{stage:<24} {seconds:8.2f} s per tile")
    click.echo(f"written to {target}; set [cluster] calibration_file to it if it is not already")


@main.group()
def jobs() -> None:
    """Look at and act on jobs."""


def _store(obj: Context) -> Any:
    from wps_server.database import make_engine
    from wps_server.jobs.store import JobStore

    return JobStore(make_engine(obj.settings().database_url))


@jobs.command("list")
@click.option("--status", type=click.Choice(["accepted", "running", "succeeded", "failed", "dismissed"]))
@click.option("--limit", type=click.IntRange(1, 10000), default=50)
@click.pass_obj
def list_jobs(obj: Context, status: str | None, limit: int) -> None:
    """The newest jobs, one a line."""
    from wps_server.jobs.model import Status

    for job in _store(obj).list(limit, Status(status) if status else None):
        created = job.created.isoformat(timespec="seconds") if job.created else "-"
        click.echo(
            f"{job.id}  {job.status.value:<9}  {job.percent:>3}%  {created}  {job.process_id}  {job.message}"
        )


@jobs.command()
@click.argument("job_id")
@click.pass_obj
def show(obj: Context, job_id: str) -> None:
    """Everything the store knows of one job, as JSON."""
    job = _store(obj).get(job_id)
    if job is None:
        raise click.ClickException(f"there is no job {job_id}")
    data = asdict(job)
    data["request"]["inputs"] = [
        {k: v for k, v in i.items() if v is not None and k not in {"xml", "body"}}
        for i in data["request"]["inputs"]
    ]
    click.echo(json.dumps(data, indent=2, default=str))


@jobs.command()
@click.option("--limit", type=click.IntRange(1, 10000), default=50)
@click.pass_obj
def cost(obj: Context, limit: int) -> None:
    """What the newest jobs used and cost: billed worker-seconds, busy task-seconds, efficiency."""
    rows = _store(obj).costs(limit)
    click.echo(
        f"{'job':<36}  {'process':<14} {'profile':<12} {'workers':>7} {'billed s':>9} {'busy s':>8} "
        f"{'effic.':>6} {'cost':>10}"
    )
    for job, spent in rows:
        amount = f"{spent['cost']:.4f} {spent.get('currency') or ''}" if spent.get("priced") else "unpriced"
        efficiency = spent.get("efficiency")
        click.echo(
            f"{job.id:<36}  {job.process_id:<14} {spent['profile']:<12} {len(spent['workers']):>7} "
            f"{spent['billed_worker_seconds']:>9.1f} {spent['busy_task_seconds']:>8.1f} "
            f"{'-' if efficiency is None else f'{efficiency:.2f}':>6} {amount:>10}"
        )


@jobs.command()
@click.argument("job_id")
@click.pass_obj
def dismiss(obj: Context, job_id: str) -> None:
    """Stop a job, mark it dismissed and remove its files."""
    from wps_server.execution import dismiss_job

    if not dismiss_job(obj.settings(), _store(obj), job_id, "Dismissed by an operator"):
        raise click.ClickException(f"there is no job {job_id}")
    click.echo(f"job {job_id} dismissed")


# -- the SSA catalogue -----------------------------------------------------------------------------
@main.group()
def catalogue() -> None:
    """The SSA catalogue in the configured database: ingest, query, statistics and sensors.

    Each command brings the schema up to date and registers the sensors of [ssa] sensors_file first.
    """


def _ssa(obj: Context) -> tuple[Engine, SSASettings]:
    """(catalogue engine, SSASettings) for the configuration, with the schema and sensors in place."""
    from processes.ssa_config import CatalogueConnection, SSASettings
    from wps_server.database import make_engine
    from wps_server.database import migrate as upgrade

    settings = obj.settings()
    try:
        ssa = SSASettings.from_settings(settings)
        service = make_engine(settings.database_url)
        upgrade(service)
        service.dispose()
        return CatalogueConnection(settings.database_url, ssa).engine(), ssa
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _utc(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time option as an aware UTC datetime (no zone: UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2026-09-21T00:00:00Z") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _write(content: str | bytes, output: str | None) -> None:
    from pathlib import Path

    data = content.encode() if isinstance(content, str) else content
    if output:
        Path(output).write_bytes(data)
    else:
        click.echo(data, nl=False)


@contextmanager
def _domain_errors() -> Iterator[None]:
    """Domain errors as click errors: the message, never a traceback."""
    from processes.ssa.errors import SSAError

    try:
        yield
    except SSAError as exc:
        raise click.ClickException(str(exc)) from None


@catalogue.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--source", default="cli", show_default=True, help="Provenance kept with the messages.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr (default: when it is a terminal)."
)
@click.option("--keep-going", is_flag=True, help="Go on after a refused file (exit status 1 at the end).")
@click.pass_obj
def catalogue_ingest(
    obj: Context, files: tuple[str, ...], source: str, progress: bool | None, keep_going: bool
) -> None:
    """Ingest TDM, OMM and TLE files, each all or nothing; a file ingested before changes nothing.

    When the files grew a catalogue table a lot (PostgreSQL), its planner statistics are refreshed
    at the end, as ``processes.ssa.catalogue.maintenance.refresh_after_ingest`` decides."""
    from processes.ssa.catalogue.maintenance import refresh_after_ingest

    engine, ssa = _ssa(obj)
    paths = [Path(f) for f in files]
    refused: list[str] = []
    summaries: list[IngestSummary] = []
    try:
        _ingest_files(engine, ssa, paths, source, progress, keep_going, refused, summaries)
    finally:  # what was stored stays stored, refused file or not: a large load gets statistics now
        analyzed = refresh_after_ingest(engine, summaries)
        if analyzed:
            click.echo(f"planner statistics refreshed: {', '.join(analyzed)}", err=True)
    if refused:
        raise click.ClickException(f"{len(refused)} of {len(paths)} files refused: {', '.join(refused)}")


def _ingest_files(
    engine: Engine,
    ssa: SSASettings,
    paths: list[Path],
    source: str,
    progress: bool | None,
    keep_going: bool,
    refused: list[str],
    summaries: list[IngestSummary],
) -> None:
    """The files in order, each all or nothing; ``refused`` and ``summaries`` collect the outcome."""
    from tqdm import tqdm

    from processes.ssa.catalogue import ingest
    from processes.ssa.errors import SSAError
    from processes.ssa.textio import check_size

    stored = 0
    with tqdm(
        total=sum(p.stat().st_size for p in paths),
        unit="B",
        unit_scale=True,
        desc="ingest",
        disable=None if progress is None else not progress,
        file=sys.stderr,
    ) as bar:
        for path in paths:
            bar.set_postfix_str(path.name)
            try:
                check_size(path.stat().st_size, ssa.max_message_bytes)  # before it is read into memory
                summary = ingest(
                    engine, path.read_bytes(), path.name, source, max_bytes=ssa.max_message_bytes
                )
            except SSAError as exc:
                refused.append(str(path))
                bar.write(f"{path}: refused, nothing of it stored: {exc}", file=sys.stderr)
                if not keep_going:
                    kept = f"; the {stored} file(s) before it stay stored" if stored else ""
                    raise click.ClickException(f"{path} was refused{kept}") from None
                continue
            finally:
                bar.update(path.stat().st_size)
            stored += 1
            summaries.append(summary)
            if summary.duplicate:
                line = f"{path}: already ingested as message {summary.message_id}, nothing changed"
            else:
                counts = (
                    f"{summary.n_orbits} orbits, {summary.n_objects_created} new objects"
                    if summary.kind != "TDM"
                    else f"{summary.n_tracks} tracks ({summary.n_uncorrelated_tracks} uncorrelated), "
                    f"{summary.n_observations} observations"
                )
                line = f"{path}: {summary.kind} {summary.format}, {counts}"
                line += "".join(f"; request {r} now {s}" for r, s in summary.tasking_updates)
                line += "".join(
                    f"; segment {r.index} (line {r.line}) rejected: {r.reason}" for r in summary.rejected
                )
            bar.write(line)


@catalogue.group("query")
def catalogue_query() -> None:
    """Objects, orbits and observations, written to stdout or --output."""


_OUTPUT = click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write here.")
_LIMIT = click.option("--limit", type=click.IntRange(1, 99_999), default=1000, show_default=True)
_OFFSET = click.option("--offset", type=click.IntRange(0), default=0, show_default=True)


@catalogue_query.command("objects")
@click.option(
    "--id", "ids", type=click.IntRange(1, 999_999_999), multiple=True, help="NORAD id (repeatable)."
)
@click.option("--name", help="Part of the name (any case).")
@click.option("--type", "object_type", help="PAYLOAD, ROCKET BODY, DEBRIS...")
@_LIMIT
@_OFFSET
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@_OUTPUT
@click.pass_obj
def query_objects_command(
    obj: Context,
    ids: tuple[int, ...],
    name: str | None,
    object_type: str | None,
    limit: int,
    offset: int,
    fmt: str,
    output: str | None,
) -> None:
    """Catalogue objects, by NORAD id."""
    from processes.ssa.catalogue import export_objects, query_objects

    engine, _ = _ssa(obj)
    with _domain_errors():
        found = query_objects(
            engine, norad_ids=ids or None, name=name, object_type=object_type, limit=limit, offset=offset
        )
        _write(export_objects(found, fmt), output)
    click.echo(f"{len(found)} objects", err=True)


@catalogue_query.command("orbits")
@click.option(
    "--id", "ids", type=click.IntRange(1, 999_999_999), multiple=True, help="NORAD id (repeatable)."
)
@click.option("--history", is_flag=True, help="Every orbit, not only the newest of each object.")
@click.option("--start", callback=_utc, help="Epochs from (ISO 8601, UTC).")
@click.option("--end", callback=_utc, help="Epochs before (ISO 8601, UTC).")
@click.option("--regime", type=click.Choice(["LEO", "MEO", "GEO", "HEO"]))
@_LIMIT
@_OFFSET
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["omm-json", "omm-kvn", "omm-xml", "omm-csv", "tle", "3le"]),
    default="omm-kvn",
    show_default=True,
)
@_OUTPUT
@click.pass_obj
def query_orbits_command(
    obj: Context,
    ids: tuple[int, ...],
    history: bool,
    start: datetime | None,
    end: datetime | None,
    regime: str | None,
    limit: int,
    offset: int,
    fmt: str,
    output: str | None,
) -> None:
    """Orbits (OMM or TLE), the newest of each object unless --history."""
    from processes.ssa.catalogue import export_orbits, query_orbits

    engine, _ = _ssa(obj)
    with _domain_errors():
        found = query_orbits(
            engine,
            norad_ids=ids or None,
            latest=not history,
            start=start,
            end=end,
            regime=regime,
            limit=limit,
            offset=offset,
        )
        _write(export_orbits(found, fmt), output)
    click.echo(f"{len(found)} orbits", err=True)


@catalogue_query.command("observations")
@click.option("--start", callback=_utc, required=True, help="From (ISO 8601, UTC).")
@click.option("--end", callback=_utc, required=True, help="Before (ISO 8601, UTC).")
@click.option("--object-id", type=click.IntRange(1, 999_999_999))
@click.option("--sensor")
@click.option(
    "--type",
    "types",
    multiple=True,
    type=click.Choice(["ANGLE_1", "ANGLE_2", "RANGE", "DOPPLER_INSTANTANEOUS", "MAG", "RCS"]),
)
@click.option("--quality", type=click.Choice(["RAW", "VALIDATED", "DEGRADED"]))
@click.option("--uncorrelated/--correlated", default=None, help="Only tracks without (with) an object.")
@click.option("--cone", help="'ra,dec,radius_deg' in degrees.")
@_LIMIT
@_OFFSET
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "tdm-kvn", "tdm-xml"]),
    default="csv",
    show_default=True,
)
@_OUTPUT
@click.pass_obj
def query_observations_command(
    obj: Context,
    start: datetime,
    end: datetime,
    object_id: int | None,
    sensor: str | None,
    types: tuple[str, ...],
    quality: str | None,
    uncorrelated: bool | None,
    cone: str | None,
    limit: int,
    offset: int,
    fmt: str,
    output: str | None,
) -> None:
    """Observations in [start, end), ordered by epoch, a page at a time."""
    from processes.ssa.catalogue import Cone, export_observations, query_observations

    engine, ssa = _ssa(obj)
    sky = None
    if cone is not None:
        try:
            sky = Cone(*(float(v) for v in cone.split(",")))
        except (TypeError, ValueError):
            raise click.BadParameter("give 'ra,dec,radius_deg' in degrees", param_hint="--cone") from None
    with _domain_errors():
        page = query_observations(
            engine,
            start,
            end,
            norad_id=object_id,
            sensor=sensor,
            types=types or None,
            quality=quality,
            uncorrelated=uncorrelated,
            cone=sky,
            limit=limit,
            offset=offset,
            max_window=ssa.max_query_window,
        )
        if not page.rows and fmt.startswith("tdm"):
            raise click.ClickException("no observation matches: a TDM needs at least one")
        _write(export_observations(page.rows, fmt), output)
    more = f"; next page: --offset {page.next_offset}" if page.next_offset is not None else ""
    click.echo(f"{len(page.rows)} observation rows{more}", err=True)


@catalogue.command("stats")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@click.pass_obj
def catalogue_stats_command(obj: Context, as_json: bool) -> None:
    """What the catalogue holds."""
    from processes.ssa.catalogue import catalogue_stats

    engine, _ = _ssa(obj)
    stats = asdict(catalogue_stats(engine))
    if as_json:
        click.echo(json.dumps(stats, indent=2, default=str))
        return
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        click.echo(f"{key.replace('_', ' '):<22} {'-' if value is None else value}")


@catalogue.group("sensors")
def catalogue_sensors() -> None:
    """The sensors whose observations the catalogue accepts."""


@catalogue_sensors.command("add")
@click.argument("code")
@click.option("--kind", type=click.Choice(["optical", "radar"]), required=True)
@click.option("--lat", type=click.FloatRange(-90, 90), required=True, help="Latitude (deg, WGS-84).")
@click.option("--lon", type=click.FloatRange(-180, 360), required=True, help="Longitude (deg).")
@click.option("--height", type=float, default=0.0, show_default=True, help="Height above the ellipsoid (m).")
@click.option("--min-elevation", type=click.FloatRange(-90, 90), default=10.0, show_default=True, help="deg")
@click.option("--max-range", type=click.FloatRange(0, min_open=True), help="Radar range limit (km).")
@click.option("--limiting-magnitude", type=float, help="Faintest magnitude (optical).")
@click.option("--description", default="")
@click.option("--replace", is_flag=True, help="Update the sensor if the code is registered.")
@click.pass_obj
def sensors_add(
    obj: Context,
    code: str,
    kind: str,
    lat: float,
    lon: float,
    height: float,
    min_elevation: float,
    max_range: float | None,
    limiting_magnitude: float | None,
    description: str,
    replace: bool,
) -> None:
    """Register a sensor: its observations can then be ingested."""
    from processes.ssa.catalogue import add_sensor
    from processes.ssa.records import Sensor, SensorKind

    engine, _ = _ssa(obj)
    try:
        sensor = Sensor(
            code,
            SensorKind(kind),
            lat,
            lon,
            height,
            min_elevation,
            max_range_km=max_range,
            limiting_magnitude=limiting_magnitude,
            description=description,
        )
        add_sensor(engine, sensor, replace=replace)
    except ValueError as exc:
        raise click.ClickException(str(exc).replace("(pass replace=True)", "(use --replace)")) from None
    click.echo(f"sensor {code} registered")


@catalogue_sensors.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def sensors_load(obj: Context, file: str) -> None:
    """Register (or update) every sensor of a YAML or JSON file, all or nothing."""
    from processes.ssa.catalogue import load_sensors

    engine, _ = _ssa(obj)
    with _domain_errors():
        loaded = load_sensors(engine, file)
    click.echo(f"{len(loaded)} sensors registered: {', '.join(s.code for s in loaded)}")


@catalogue_sensors.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@click.pass_obj
def sensors_list(obj: Context, as_json: bool) -> None:
    """The registered sensors."""
    from processes.ssa.catalogue import list_sensors

    engine, _ = _ssa(obj)
    found = list_sensors(engine)
    if as_json:
        click.echo(json.dumps([asdict(s) for s in found], indent=2, default=str))
        return
    for s in found:
        limits = f"mask {s.min_elevation_deg:g} deg" + (
            f", range {s.max_range_km:g} km" if s.max_range_km else ""
        )
        click.echo(
            f"{s.code:<20} {s.kind.value:<8} {s.latitude_deg:>9.4f} {s.longitude_deg:>10.4f} "
            f"{s.height_m:>7.0f} m  {limits}  {s.description}"
        )


if __name__ == "__main__":
    main()
