"""The users file: who may sign in with a password, their roles, groups and monthly budgets.

One JSON document, written whole to a temporary file and renamed over the old one (readers never see
half a file), readable by its owner only. Passwords are kept as Argon2id hashes (argon2-cffi: salted,
slow and memory-hard); the server rereads the file when it changes, so `wps-server users ...` takes
effect without a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
#: verified against when the user does not exist, so that an unknown name takes as long as a known one
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class UsersError(ValueError):
    """The users file or a change to it is not valid; the message names the user or field."""


@dataclass(frozen=True)
class Budget:
    """A spending limit per calendar month (UTC)."""

    amount: Decimal
    currency: str

    def to_json(self) -> dict[str, str]:
        return {"amount": str(self.amount), "currency": self.currency}


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str = ""
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    disabled: bool = False
    budget: Budget | None = None


@dataclass(frozen=True)
class UsersDocument:
    users: dict[str, Account] = field(default_factory=dict)
    group_budgets: dict[str, Budget] = field(default_factory=dict)


def check_name(name: str, what: str = "user name") -> str:
    if not NAME.match(name):
        raise UsersError(
            f"{what} {name[:40]!r} is not valid: 1 to 100 characters of letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def parse_budget(amount: str, currency: str) -> Budget:
    """A budget from a user's words, e.g. ``"250"`` and ``"EUR"``."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise UsersError(
            f"budget amount must be a number such as 250 or 99.50, not {amount[:40]!r}"
        ) from None
    if not value.is_finite() or value < 0:
        raise UsersError(f"budget amount must be zero or more, not {amount[:40]!r}")
    if not CURRENCY.match(currency):
        raise UsersError(f"currency must be an ISO 4217 code such as EUR or USD, not {currency[:10]!r}")
    return Budget(value, currency)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"the password must have at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def verify_password(account: Account | None, password: str) -> bool:
    """Whether ``password`` is the account's; as slow for an unknown or disabled account."""
    stored = account.password_hash if account is not None and account.password_hash else _DUMMY_HASH
    ok = False
    with contextlib.suppress(VerificationError, InvalidHashError):
        ok = _HASHER.verify(stored, password)
    return ok and account is not None and bool(account.password_hash) and not account.disabled


def _budget(where: str, raw: object) -> Budget | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"amount", "currency"}:
        raise UsersError(f"{where}: budget must be {{amount, currency}}")
    return parse_budget(str(raw["amount"]), str(raw["currency"]))


def _strings(where: str, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise UsersError(f"{where} must be a list of names")
    return tuple(raw)


def parse_document(data: object) -> UsersDocument:
    if not isinstance(data, dict):
        raise UsersError("the users file must hold an object with `users` and `groups`")
    users: dict[str, Account] = {}
    for name, raw in (data.get("users") or {}).items():
        check_name(name)
        if not isinstance(raw, dict):
            raise UsersError(f"user {name}: must be an object")
        users[name] = Account(
            name=name,
            password_hash=str(raw.get("password", "")),
            roles=_strings(f"user {name}: roles", raw.get("roles", [])),
            groups=_strings(f"user {name}: groups", raw.get("groups", [])),
            disabled=bool(raw.get("disabled", False)),
            budget=_budget(f"user {name}", raw.get("budget")),
        )
    groups: dict[str, Budget] = {}
    for name, raw in (data.get("groups") or {}).items():
        check_name(name, "group name")
        budget = _budget(f"group {name}", (raw or {}).get("budget") if isinstance(raw, dict) else raw)
        if budget is not None:
            groups[name] = budget
    return UsersDocument(users, groups)


def document_json(document: UsersDocument) -> dict[str, Any]:
    users: dict[str, Any] = {}
    for account in document.users.values():
        entry: dict[str, Any] = {
            "password": account.password_hash,
            "roles": list(account.roles),
            "groups": list(account.groups),
            "disabled": account.disabled,
        }
        if account.budget is not None:
            entry["budget"] = account.budget.to_json()
        users[account.name] = entry
    groups = {name: {"budget": budget.to_json()} for name, budget in document.group_budgets.items()}
    return {"users": users, "groups": groups}


class UsersFile:
    """The users file at ``path``: read (cached until it changes) and changed atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int], UsersDocument] | None = None

    def read(self) -> UsersDocument:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return UsersDocument()
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
        try:
            data = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsersError(f"the users file cannot be read: {type(exc).__name__}") from None
        document = parse_document(data)
        with self._lock:
            self._cached = (key, document)
        return document

    def account(self, name: str) -> Account | None:
        return self.read().users.get(name)

    def __iter__(self) -> Iterator[Account]:
        return iter(sorted(self.read().users.values(), key=lambda a: a.name))

    def write(self, document: UsersDocument) -> None:
        """Replace the file whole: a temporary file (mode 0600) in the same folder, renamed over it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(document_json(document), out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).chmod(0o600)
            Path(temporary).replace(self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    # -- changes -----------------------------------------------------------------------------------
    def add(
        self, name: str, password: str | None, roles: tuple[str, ...], groups: tuple[str, ...]
    ) -> Account:
        """Add a user; with ``password`` None, an entry that never signs in with Basic (its groups
        and budget are those of a bearer-token user of that name)."""
        check_name(name)
        for item in (*roles, *groups):
            check_name(item, "role or group name")
        document = self.read()
        if name in document.users:
            raise UsersError(f"there is already a user {name}; use `users passwd` to change the password")
        account = Account(name, "" if password is None else hash_password(password), roles, groups)
        self.write(replace(document, users={**document.users, name: account}))
        return account

    def change(self, name: str, **changes: Any) -> Account:
        document = self.read()
        account = document.users.get(name)
        if account is None:
            raise UsersError(f"there is no user {name[:40]!r}; `wps-server users list` shows them")
        updated = replace(account, **changes)
        self.write(replace(document, users={**document.users, name: updated}))
        return updated

    def set_group_budget(self, group: str, budget: Budget | None) -> None:
        check_name(group, "group name")
        document = self.read()
        budgets = {k: v for k, v in document.group_budgets.items() if k != group}
        if budget is not None:
            budgets[group] = budget
        self.write(replace(document, group_budgets=budgets))
