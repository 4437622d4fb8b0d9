"""Monthly budgets: what a user (or their group) may spend per calendar month (UTC), in a currency.

Before a job's priced cluster starts, its predicted cost is *reserved* against what is left, in one
transaction that first writes the account's row (a row lock on PostgreSQL, the database's write lock
on SQLite), so that two jobs starting at once cannot both take the last of a budget. When the cluster
is closed the reservation becomes the measured bill. Amounts are kept in millionths of the currency.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wps_server.access import AuthSettings, User
from wps_server.config import Settings
from wps_server.errors import PaymentRequired
from wps_server.users import Budget, UsersFile

metadata = sa.MetaData()
accounts = sa.Table(
    "wps_budget_accounts",
    metadata,
    sa.Column("account", sa.String(300), primary_key=True),
    sa.Column("changes", sa.Integer, nullable=False),
)
charges = sa.Table(
    "wps_budget_charges",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("account", sa.String(300), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("micros", sa.BigInteger, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Index("ix_wps_budget_charges_account_month", "account", "month"),
)
MICROS = Decimal(1_000_000)


def month_of(moment: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if moment is None else moment, UTC).strftime("%Y-%m")


def to_micros(amount: float | Decimal) -> int:
    return int((Decimal(str(amount)) * MICROS).to_integral_value(rounding=ROUND_CEILING))


def money(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).quantize(Decimal("0.01"), rounding=ROUND_CEILING)


@dataclass(frozen=True)
class Standing:
    """A budget this month: whose (``user:NAME`` or ``group:NAME``), the limit, spent, left."""

    account: str
    budget: Budget
    spent: Decimal
    left: Decimal

    def to_json(self) -> dict[str, object]:
        """openEO's words: the remaining ``budget``, with the monthly limit and what was spent."""
        return {
            "account": self.account,
            "currency": self.budget.currency,
            "monthly": float(self.budget.amount),
            "spent": float(self.spent),
            "budget": float(self.left),
            "month": month_of(),
        }


class Budgets:
    def __init__(self, engine: Engine, users: UsersFile) -> None:
        self.engine = engine
        self.users = users

    def limit_for(self, user: User) -> tuple[str, Budget] | None:
        """The user's own budget, else the first of their groups' that has one; None: no limit."""
        if user.name is None:
            return None
        document = self.users.read()
        account = document.users.get(user.name)
        if account is not None and account.budget is not None:
            return f"user:{user.name}", account.budget
        for group in (*user.groups, *(account.groups if account else ())):
            if group in document.group_budgets:
                return f"group:{group}", document.group_budgets[group]
        return None

    def standing(self, user: User) -> Standing | None:
        limit = self.limit_for(user)
        if limit is None:
            return None
        return self.standing_of(*limit)

    def standing_of(self, account: str, budget: Budget) -> Standing:
        """This month's standing of one account (``user:NAME`` or ``group:NAME``)."""
        with self.engine.connect() as db:
            spent = money(self._spent(db, account, budget.currency))
        return Standing(account, budget, spent, max(Decimal(0), budget.amount - spent))

    def reserve(self, user: User, job_id: str, amount: float, currency: str) -> Standing | None:
        """Reserve a job's predicted cost; :class:`PaymentRequired` (with the estimate and what is
        left) when it does not fit. None when the user has no budget (nothing is reserved).

        A job resumed after the server stopped reserves again on top of what its earlier attempt
        holds: that attempt's cluster ran, and its bill is not known, so its estimate stays charged."""
        limit = self.limit_for(user)
        if limit is None:
            return None
        account, budget = limit
        if currency != budget.currency:
            raise PaymentRequired(
                f"the cluster profile is priced in {currency} but the budget of {account} is in "
                f"{budget.currency}: choose a profile priced in {budget.currency}",
                "cluster",
            )
        wanted = to_micros(amount)
        self._ensure_account(account)
        with self.engine.begin() as db:
            # the write comes first: it serialises every reservation of this account
            db.execute(
                accounts.update().where(accounts.c.account == account).values(changes=accounts.c.changes + 1)
            )
            spent = self._spent(db, account, currency)
            left = to_micros(budget.amount) - spent
            if wanted > left:
                raise PaymentRequired(
                    f"the job is estimated at {money(wanted)} {currency} but {money(max(0, left))} {currency} "
                    f"is left of the monthly budget of {account} ({budget.amount} {currency}); ask for a "
                    "smaller region, fewer workers or a cheaper profile, or wait for next month",
                    "cluster",
                )
            earlier = db.execute(sa.select(charges.c.micros).where(charges.c.job_id == job_id)).scalar()
            if earlier is None:
                db.execute(
                    charges.insert().values(
                        job_id=job_id,
                        account=account,
                        month=month_of(),
                        currency=currency,
                        micros=wanted,
                        final=False,
                        created=time.time(),
                    )
                )
            else:
                db.execute(
                    charges.update()
                    .where(charges.c.job_id == job_id)
                    .values(micros=charges.c.micros + wanted, final=False)
                )
        return Standing(account, budget, money(spent + wanted), money(left - wanted))

    def settle(self, job_id: str, amount: float, reserved: float) -> None:
        """Replace what this attempt of a job ``reserved`` by its measured bill ``amount``."""
        with self.engine.begin() as db:
            db.execute(
                charges.update()
                .where(charges.c.job_id == job_id)
                .values(micros=charges.c.micros - to_micros(reserved) + to_micros(amount), final=True)
            )

    def charged(self, job_id: str) -> tuple[Decimal, str, bool] | None:
        """A job's charge: amount, currency, and whether it is the measured bill (not the estimate)."""
        with self.engine.connect() as db:
            row = db.execute(charges.select().where(charges.c.job_id == job_id)).mappings().first()
        return (money(row["micros"]), row["currency"], row["final"]) if row else None

    def _spent(self, db: sa.Connection, account: str, currency: str) -> int:
        query = sa.select(sa.func.coalesce(sa.func.sum(charges.c.micros), 0)).where(
            charges.c.account == account, charges.c.month == month_of(), charges.c.currency == currency
        )
        return int(db.execute(query).scalar_one())

    def _ensure_account(self, account: str) -> None:
        with self.engine.connect() as db:
            if db.execute(sa.select(accounts.c.account).where(accounts.c.account == account)).first():
                return
        try:
            with self.engine.begin() as db:
                db.execute(accounts.insert().values(account=account, changes=0))
        except sa.exc.IntegrityError:  # another job made it first
            pass


def budgets_for(settings: Settings, engine: Engine) -> Budgets | None:
    """The budgets of the configured users file; None when nobody signs in (no one to charge)."""
    auth = AuthSettings.from_settings(settings)
    return Budgets(engine, UsersFile(auth.users_file)) if auth.enabled else None


def job_spending(budgets: Budgets | None, owner: str | None, job_id: str) -> dict[str, Any]:
    """The ``reserve`` and ``settle`` of a job's :class:`~wps_server.execution.RunContext`."""
    if budgets is None or owner is None:
        return {}
    user = User(owner)

    def standing() -> dict[str, object] | None:
        found = budgets.standing(user)
        return found.to_json() if found is not None else None

    reserved: list[float] = []

    def reserve(amount: float, currency: str) -> None:
        if budgets.reserve(user, job_id, amount, currency) is not None:
            reserved.append(amount)

    def settle(amount: float) -> None:
        if reserved:
            budgets.settle(job_id, amount, reserved.pop())

    return {"reserve": reserve, "settle": settle, "standing": standing}
