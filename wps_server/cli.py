"""The ``wps-server`` command: serve, run jobs, and operate on them. Every command honours --config.

Process families add their own command groups (``catalogue``, ``calibrate``) through the
``wps_server.commands`` entry points; this module names none of them.
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import asdict
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import click

from wps_server.cli_context import Context, iso
from wps_server.config import ConfigError
from wps_server.jobs.model import Status
from wps_server.logs import configure_logging
from wps_server.users_cli import users

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from wps_server.config import Settings


@click.group()
@click.option(
    "--config", "-c", type=click.Path(dir_okay=False), help="Configuration file (default: $PYWPS_CFG)."
)
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """OGC WPS server for space data."""
    ctx.obj = Context(config)


for _entry in entry_points(group="wps_server.commands"):
    main.add_command(_entry.load(), _entry.name)
main.add_command(users)


@main.command()
@click.option("--host", help="Address to listen on (default from the configuration).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default from the configuration).")
@click.option("--workers", type=click.IntRange(1, 64), help="Gunicorn worker processes.")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve /wps with gunicorn, a local Dask cluster and the job runner; Ctrl-C stops them all."""
    from wps_server.access import AuthSettings, check_exposure
    from wps_server.database import StoreUnavailable
    from wps_server.execution import check_server_storage
    from wps_server.jobs.runner import RunnerTimings
    from wps_server.jobs.store import JobStore
    from wps_server.registry import load_processes
    from wps_server.supervisor import AlreadyServing, Supervisor, check_free

    settings = obj.settings()
    configure_logging(settings.log_level, settings.log_format)
    address = (host or settings.host, settings.port if port is None else port)
    try:
        check_exposure(AuthSettings.from_settings(settings), address[0])
        load_processes(settings)
        check_server_storage(settings)
        check_free(settings, *address)
    except (ConfigError, AlreadyServing) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        holder = JobStore(_serving_store(settings)).lease_holder()
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if holder is not None and holder.alive(RunnerTimings().stale_after):
        raise click.ClickException(
            f"another job runner ({holder.runner}, pid {holder.pid} on {holder.host}) drives the job "
            f"store of [database] url: stop it first; two runners never share a store"
        )
    supervisor = Supervisor(settings, [str(f) for f in obj.files()], *address, workers or settings.workers)
    sys.exit(supervisor.run())


def _serving_store(settings: Settings) -> Engine:
    """The job store at the newest schema and the data folder, made for ``serve``; StoreUnavailable
    naming the key to fix otherwise. A database server is reached before anything local is made."""
    from wps_server.database import StoreUnavailable, create_or_upgrade

    url = settings.database_url
    engine = None if url.startswith("sqlite") else create_or_upgrade(url)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(
            f"[server] data_dir {settings.data_dir} cannot be made ({exc.strerror or exc}): set it to a "
            "folder this user can write, or pass --config"
        ) from None
    return engine or create_or_upgrade(url)


@main.command()
@click.pass_obj
def runner(obj: Context) -> None:
    """Run queued jobs (started by serve; run it alone next to an external gunicorn)."""
    from wps_server.cluster_client import SchedulerConnection
    from wps_server.clusters import JobClusters
    from wps_server.execution import check_server_storage
    from wps_server.jobs.runner import Runner, periodic_tasks
    from wps_server.registry import load_processes

    settings = obj.settings()
    configure_logging(settings.log_level, settings.log_format)
    try:  # the processes and their periodic tasks read their own settings: a bad one stops here
        check_server_storage(settings)
        offered, periodic = load_processes(settings), periodic_tasks(settings)
        clusters = JobClusters(settings, settings.dask.scheduler)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    job_runner = Runner(
        settings,
        offered,
        obj.store(),
        SchedulerConnection(settings.dask.scheduler),
        clusters=clusters,
        periodic=periodic,
    )
    # after JobClusters: importing dask-jobqueue replaces the SIGINT handler
    signal.signal(signal.SIGTERM, lambda *_: job_runner.stop())
    signal.signal(signal.SIGINT, lambda *_: job_runner.stop())
    job_runner.run()


@main.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Create the database or bring its schema up to date."""
    from wps_server.database import StoreUnavailable, create_or_upgrade

    try:
        create_or_upgrade(obj.settings().database_url)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("database is up to date")


@main.group()
def jobs() -> None:
    """Look at and act on jobs. JOB is a job id or its first characters (at least 4)."""


@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only jobs in this state.")
@click.option("--process", help="Only jobs of this process.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.pass_obj
def list_jobs(obj: Context, status: str | None, process: str | None, limit: int) -> None:
    """The newest jobs, one a line: id, state, progress, submitted (UTC), process, message."""
    found = obj.store().search(limit, 0, [process] if process else [], [Status(status)] if status else [])
    for job in found:
        click.echo(
            f"{job.id}  {job.status.value:<10} {job.percent:>3}%  {iso(job.created)}  {job.process_id}  "
            f"{job.message}"
        )
    if not found:
        click.echo("no job matches", err=True)


@jobs.command()
@click.argument("job_id", metavar="JOB")
@click.pass_obj
def show(obj: Context, job_id: str) -> None:
    """Everything the store knows of one job, its cost included, as JSON (times in UTC)."""
    store = obj.store()
    job = obj.job(store, job_id)
    data = asdict(job)
    data["status"] = job.status.value
    for key in ("created", "started", "finished"):
        data[key] = iso(getattr(job, key))
    data["request"]["inputs"] = [
        {k: v for k, v in i.items() if v is not None and k not in {"xml", "body"}}
        for i in data["request"]["inputs"]
    ]
    data["cost"] = _readable_cost(store.cost(job.id))
    click.echo(json.dumps(data, indent=2, default=str))


@jobs.command()
@click.argument("job_id", metavar="[JOB]", required=False)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.pass_obj
def cost(obj: Context, job_id: str | None, limit: int) -> None:
    """What jobs used and cost: billed worker-seconds, busy task-seconds, efficiency; with JOB, that
    job's bill worker by worker."""
    store = obj.store()
    if job_id is not None:
        job = obj.job(store, job_id)
        spent = store.cost(job.id)
        if spent is None:
            raise click.ClickException(f"job {job.id} ({job.status.value}) has no measured cost")
        click.echo(json.dumps(_readable_cost(spent), indent=2, default=str))
        return
    rows = store.costs(limit)
    click.echo(
        f"{'job':<36}  {'process':<14} {'owner':<12} {'profile':<12} {'workers':>7} {'billed s':>9} "
        f"{'busy s':>8} {'effic.':>6} {'cost':>10}"
    )
    for job, spent in rows:
        amount = f"{spent['cost']:.4f} {spent.get('currency') or ''}" if spent.get("priced") else "unpriced"
        efficiency = spent.get("efficiency")
        click.echo(
            f"{job.id:<36}  {job.process_id:<14} {job.owner or '-':<12} {spent['profile']:<12} "
            f"{len(spent['workers']):>7} {spent['billed_worker_seconds']:>9.1f} {spent['busy_task_seconds']:>8.1f} "
            f"{'-' if efficiency is None else f'{efficiency:.2f}':>6} {amount:>10}"
        )
    if not rows:
        click.echo("no job has a measured cost yet", err=True)
    _budgets_table(obj, store)


def _budgets_table(obj: Context, store: Any) -> None:
    """Each budget of the users file: this month's limit, spent and left."""
    from wps_server.budgets import budgets_for
    from wps_server.users import UsersError

    try:
        budgets = budgets_for(obj.settings(), store.engine)
        accounts = list(budgets.users) if budgets is not None else []
        groups = budgets.users.read().group_budgets if budgets is not None else {}
    except (ConfigError, UsersError) as exc:
        raise click.ClickException(str(exc)) from None
    if budgets is None or not (any(a.budget for a in accounts) or groups):
        return
    click.echo(f"\n{'budget this month':<30} {'monthly':>12} {'spent':>12} {'left':>12}")
    limits = [(f"user:{a.name}", a.budget) for a in accounts if a.budget is not None]
    limits += [(f"group:{name}", budget) for name, budget in groups.items()]
    for account, limit in limits:
        standing = budgets.standing_of(account, limit)
        currency = limit.currency
        click.echo(
            f"{account:<30} {limit.amount:>8} {currency} {standing.spent:>8} {currency} {standing.left:>8} {currency}"
        )


@jobs.command()
@click.argument("job_id", metavar="JOB")
@click.pass_obj
def dismiss(obj: Context, job_id: str) -> None:
    """Stop a job, mark it dismissed and remove its files."""
    from wps_server.execution import dismiss_job

    store = obj.store()
    job = obj.job(store, job_id)
    if not dismiss_job(obj.settings(), store, job.id, "Dismissed by an operator"):
        raise click.ClickException(f"there is no job {job_id}")
    click.echo(f"job {job.id} dismissed")


def _readable_cost(spent: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored cost with its workers' epoch times as ISO 8601."""
    if spent is None:
        return None
    workers = [
        {**w, "start": iso(w.get("start")), "end": iso(w.get("end"))} for w in spent.get("workers", [])
    ]
    return {**spent, "workers": workers}


if __name__ == "__main__":
    main()
