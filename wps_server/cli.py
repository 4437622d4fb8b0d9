"""The ``wps-server`` command: serve, run jobs, and operate on them. Every command honours --config."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import asdict
from typing import Any

import click

from wps_server.config import ConfigError, Settings, config_files, load_settings
from wps_server.logs import configure_logging


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
    from wps_server.registry import load_processes
    from wps_server.supervisor import Supervisor

    settings = obj.settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        load_processes(settings)
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
    from wps_server.database import make_engine
    from wps_server.jobs.runner import Runner
    from wps_server.jobs.store import JobStore
    from wps_server.registry import load_processes

    settings = obj.settings()
    configure_logging(settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url)
    job_runner = Runner(
        settings, load_processes(settings), JobStore(engine), SchedulerConnection(settings.dask.scheduler)
    )
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
@click.argument("job_id")
@click.pass_obj
def dismiss(obj: Context, job_id: str) -> None:
    """Stop a job, mark it dismissed and remove its files."""
    from wps_server.execution import dismiss_job

    if not dismiss_job(obj.settings(), _store(obj), job_id, "Dismissed by an operator"):
        raise click.ClickException(f"there is no job {job_id}")
    click.echo(f"job {job_id} dismissed")


if __name__ == "__main__":
    main()
