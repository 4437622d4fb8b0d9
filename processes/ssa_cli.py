"""``wps-server catalogue ...``: the SSA catalogue's operator commands (ingest, query, statistics,
sensors), plugged into the service's command through the ``wps_server.commands`` entry point."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wps_server.cli_context import Context
from wps_server.config import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from processes.ssa.catalogue import IngestSummary
    from processes.ssa_config import SSASettings


@click.group()
def catalogue() -> None:
    """The SSA catalogue in the configured database: ingest, query, statistics and sensors.

    The database must exist (`wps-server migrate`); each command registers the sensors of [ssa]
    sensors_file first.
    """


def _ssa(obj: Context) -> tuple[Engine, SSASettings]:
    """(catalogue engine, SSASettings) for the configuration, with the sensors in place; the
    database must exist with the newest schema (nothing is created)."""
    from processes.ssa_config import CatalogueConnection, SSASettings

    settings = obj.settings()
    try:
        ssa = SSASettings.from_settings(settings)
        obj.engine().dispose()  # exists, reachable and migrated, or one line saying what to do
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
