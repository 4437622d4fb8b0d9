"""``wps-server users ...``: the users file of HTTP Basic sign-in (and of bearer-token users' groups
and budgets). Passwords come from a prompt or, with ``--password-stdin``, from the first line of
standard input; never from the command line."""

from __future__ import annotations

import sys

import click

from wps_server.access import audit
from wps_server.cli_context import Context
from wps_server.users import UsersError, UsersFile, check_name, parse_budget


def _users(obj: Context) -> UsersFile:
    from wps_server.access import AuthSettings
    from wps_server.config import ConfigError
    from wps_server.logs import configure_logging

    settings = obj.settings()
    configure_logging(settings.log_level, settings.log_format)  # the audit lines of the changes
    try:
        return UsersFile(AuthSettings.from_settings(settings).users_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.ClickException("no password on standard input (give it on the first line)")
        return line
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _run(action: object) -> None:
    try:
        if callable(action):
            action()
    except UsersError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def users() -> None:
    """Manage the users file: who signs in with a password (HTTP Basic), and users' groups and budgets."""


@users.command()
@click.argument("name")
@click.option("--role", "roles", multiple=True, help="A role (repeat the option for several).")
@click.option("--group", "groups", multiple=True, help="A group whose budget the user spends from.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--no-password",
    is_flag=True,
    help="No password: the entry never signs in with Basic; its groups and budget are those of the "
    "bearer-token (OpenID Connect) user of that name.",
)
@click.pass_obj
def add(
    obj: Context,
    name: str,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    password_stdin: bool,
    no_password: bool,
) -> None:
    """Add a user NAME with a password (or --no-password), roles and groups."""
    if no_password and password_stdin:
        raise click.UsageError("give --password-stdin or --no-password, not both")
    store = _users(obj)
    _run(lambda: [check_name(item, "role or group name") for item in (*roles, *groups)] and None)
    _run(lambda: check_name(name))
    if store.account(name) is not None:
        raise click.ClickException(
            f"there is already a user {name}; use `users passwd` to change the password"
        )
    _run(lambda: store.add(name, None if no_password else _password(password_stdin), roles, groups))
    audit("users add", "done", target=name, roles=list(roles), groups=list(groups), password=not no_password)
    click.echo(f"user {name} added{' (no password: bearer tokens only)' if no_password else ''}")


@users.command("list")
@click.pass_obj
def list_users(obj: Context) -> None:
    """The users, one a line: name, state, roles, groups, budget."""
    store = _users(obj)
    try:
        accounts = list(store)
    except UsersError as exc:
        raise click.ClickException(str(exc)) from None
    for account in accounts:
        budget = f"{account.budget.amount} {account.budget.currency}/month" if account.budget else "-"
        click.echo(
            f"{account.name}  {'disabled' if account.disabled else 'enabled':<8}  "
            f"roles={','.join(account.roles) or '-'}  groups={','.join(account.groups) or '-'}  budget={budget}"
            + ("" if account.password_hash else "  password=none")
        )
    if not accounts:
        click.echo("no user yet: `wps-server users add NAME` adds one", err=True)


@users.command()
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@click.pass_obj
def disable(obj: Context, name: str, enable: bool) -> None:
    """Stop user NAME from signing in (their jobs stay)."""
    store = _users(obj)
    _run(lambda: store.change(name, disabled=not enable))
    audit("users enable" if enable else "users disable", "done", target=name)
    click.echo(f"user {name} {'enabled' if enable else 'disabled'}")


@users.command()
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def passwd(obj: Context, name: str, password_stdin: bool) -> None:
    """Set the password of user NAME."""
    from wps_server.users import hash_password

    store = _users(obj)
    if store.account(name) is None:
        raise click.ClickException(f"there is no user {name[:40]!r}; `wps-server users list` shows them")
    _run(lambda: store.change(name, password_hash=hash_password(_password(password_stdin))))
    audit("users passwd", "done", target=name)
    click.echo(f"password of {name} changed")


@users.command()
@click.argument("name")
@click.argument("amount", required=False)
@click.argument("currency", required=False)
@click.option("--group", "is_group", is_flag=True, help="NAME is a group: its members share the budget.")
@click.option("--remove", is_flag=True, help="Remove the budget (no monthly limit).")
@click.pass_obj
def budget(
    obj: Context, name: str, amount: str | None, currency: str | None, is_group: bool, remove: bool
) -> None:
    """Set the monthly budget of user (or --group) NAME to AMOUNT CURRENCY, e.g. `budget alice 200 EUR`."""
    if remove == (amount is not None):
        raise click.UsageError("give AMOUNT and CURRENCY (e.g. 200 EUR), or --remove")
    if amount is not None and currency is None:
        raise click.UsageError("give the CURRENCY after the AMOUNT, e.g. 200 EUR")
    store = _users(obj)

    def change() -> None:
        limit = None if remove else parse_budget(str(amount), str(currency))
        if is_group:
            store.set_group_budget(name, limit)
        else:
            store.change(name, budget=limit)

    _run(change)
    audit("users budget", "done", target=name, group=is_group, amount=amount, currency=currency)
    what = "no monthly limit" if remove else f"{amount} {currency} a month"
    click.echo(f"{'group' if is_group else 'user'} {name}: {what}")
