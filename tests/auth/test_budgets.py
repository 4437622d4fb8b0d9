"""Budgets: a job whose predicted cost does not fit in what is left of its owner's month is refused
(HTTP 402, the estimate and the amount left in the message); concurrent reservations cannot overspend
together (SQLite and PostgreSQL); a job whose running bill reaches its max_cost is stopped, its cluster
closed, and it fails with the bill in its status."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask

from tests.auth.conftest import basic, bearer
from tests.auth.issuer import Issuer
from tests.e2e.server import REPO
from tests.jobs.cluster_processes import cluster_processes
from tests.wps import processes as wps_processes
from tests.wps.interfaces import CheckedClient, checked_client
from wps_server.access import User
from wps_server.budgets import Budgets, job_spending
from wps_server.config import Settings
from wps_server.database import make_engine, migrate
from wps_server.errors import PaymentRequired
from wps_server.process import Process
from wps_server.users import UsersFile, parse_budget

PROFILES = """
version: 1
default: local
profiles:
  local:
    kind: local
    max_workers: 1
  metered:
    kind: local
    max_workers: 1
    options: {processes: false, threads_per_worker: 1}
    price: {amount: 1.0, currency: EUR, as_of: "2026-11-01"}
    billing: {granularity_seconds: 3600}
  burst:
    kind: local
    shared: false
    max_workers: 1
    options: {processes: false, threads_per_worker: 1}
    price: {amount: 3600, currency: EUR, as_of: "2026-11-01"}
    billing: {granularity_seconds: 1}
    startup_seconds: 0
  triple:
    kind: local
    max_workers: 1
    options: {processes: false, threads_per_worker: 1}
    price: {amount: 3.0, currency: EUR, as_of: "2026-11-01"}
    billing: {granularity_seconds: 3600}
  dollars:
    kind: local
    max_workers: 1
    options: {processes: false, threads_per_worker: 1}
    price: {amount: 1.0, currency: USD, as_of: "2026-11-01"}
"""


def all_processes(settings: Settings) -> list[Process]:
    return [*wps_processes.test_processes(settings), *cluster_processes(settings)]


@pytest.fixture
def web(make_auth_app: Callable[..., Flask], tmp_path: Path, database_url: str) -> Iterator[CheckedClient]:
    profiles = tmp_path / "clusters.yaml"
    profiles.write_text(PROFILES)
    app = make_auth_app(
        processes=all_processes, cluster={"profiles_file": str(profiles)}, database={"url": database_url}
    )
    users = UsersFile(tmp_path / "var" / "users.json")
    users.change("alice", budget=parse_budget("1.5", "EUR"))
    users.set_group_budget("team", parse_budget("100", "EUR"))
    yield checked_client(app)
    clusters = app.extensions["wps"].engine.clusters
    if clusters is not None:
        clusters.close()


def run(web: CheckedClient, who: str, inputs: dict[str, object], process: str = "cluster_sleep") -> object:
    return web.post(f"/ogcapi/processes/{process}/execution", json={"inputs": inputs}, headers=basic(who))


def test_a_job_that_does_not_fit_is_refused_with_402(web: CheckedClient) -> None:
    first = run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "metered"})
    assert first.status_code == 200, first.get_data(as_text=True)  # type: ignore[attr-defined]
    me = web.get("/ogcapi/me", headers=basic("alice")).get_json()
    assert me["budget"] == {
        "account": "user:alice",
        "currency": "EUR",
        "monthly": 1.5,
        "spent": 1.0,
        "budget": 0.5,
        "month": me["budget"]["month"],
    }
    second = run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "metered"})
    assert second.status_code == 402  # type: ignore[attr-defined]
    detail = second.get_json()["detail"]  # type: ignore[attr-defined]
    assert "estimated at 1.00 EUR but 0.50 EUR is left of the monthly budget of user:alice" in detail
    wps = web.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=cluster_sleep"
        "&DataInputs=tasks=1;seconds=0.1;cluster=metered",
        headers=basic("alice"),
    )
    assert wps.status_code == 402 and b'exceptionCode="PaymentRequired"' in wps.get_data()
    assert b"0.50 EUR is left" in wps.get_data()
    # an unpriced profile costs nothing and stays open; bob has no budget at all
    assert run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "local"}).status_code == 200  # type: ignore[attr-defined]
    assert run(web, "bob", {"tasks": 1, "seconds": 0.1, "cluster": "metered"}).status_code == 200  # type: ignore[attr-defined]


def test_an_asynchronous_job_is_refused_at_submission_when_nothing_is_left(
    web: CheckedClient, tmp_path: Path
) -> None:
    UsersFile(tmp_path / "var" / "users.json").change("alice", budget=parse_budget("1", "EUR"))
    assert run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "metered"}).status_code == 200  # type: ignore[attr-defined]
    before = len(web.get("/ogcapi/jobs", headers=basic("alice")).get_json()["jobs"])
    queued = web.post(
        "/ogcapi/processes/cluster_sleep/execution",
        json={"inputs": {"tasks": 1, "seconds": 0.1, "cluster": "metered"}},
        headers=basic("alice") | {"Prefer": "respond-async"},
    )
    assert queued.status_code == 402, queued.get_data(as_text=True)
    assert (
        "nothing is left of the monthly budget of user:alice (1 EUR, 1.00 spent)"
        in queued.get_json()["detail"]
    )
    wps = web.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=cluster_sleep&storeExecuteResponse=true"
        "&status=true&DataInputs=tasks=1;seconds=0.1;cluster=metered",
        headers=basic("alice"),
    )
    assert wps.status_code == 402 and b'locator="cluster"' in wps.get_data()
    assert len(web.get("/ogcapi/jobs", headers=basic("alice")).get_json()["jobs"]) == before
    # an unpriced profile still runs, and the same request from bob (no budget) is queued
    assert run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "local"}).status_code == 200  # type: ignore[attr-defined]
    accepted = web.post(
        "/ogcapi/processes/cluster_sleep/execution",
        json={"inputs": {"tasks": 1, "seconds": 0.1, "cluster": "metered"}},
        headers=basic("bob") | {"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.get_data(as_text=True)


def test_a_job_sees_its_owners_budget_after_its_bill(web: CheckedClient) -> None:
    done = web.post(
        "/ogcapi/processes/cluster_spin/execution",
        json={"inputs": {"tasks": 1, "seconds": 0.1, "cluster": "metered"}, "response": "document"},
        headers=basic("alice"),
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    seen = json.loads(done.get_json()["budget"])
    assert (seen["account"], seen["spent"], seen["budget"]) == ("user:alice", 1.0, 0.5)


def test_a_budget_in_another_currency_is_refused_clearly(web: CheckedClient) -> None:
    refused = run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "dollars"})
    assert refused.status_code == 402  # type: ignore[attr-defined]
    assert "priced in USD but the budget of user:alice is in EUR" in refused.get_json()["detail"]  # type: ignore[attr-defined]


def test_a_group_budget_is_shared_by_its_members(web: CheckedClient, tmp_path: Path) -> None:
    UsersFile(tmp_path / "var" / "users.json").change("alice", budget=None)
    assert run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "metered"}).status_code == 200  # type: ignore[attr-defined]
    me = web.get("/ogcapi/me", headers=basic("alice")).get_json()
    assert me["budget"]["account"] == "group:team" and me["budget"]["spent"] == 1.0


def test_a_token_user_spends_the_budget_of_an_entry_without_password(
    web: CheckedClient, tmp_path: Path, issuer: Issuer
) -> None:
    users = UsersFile(tmp_path / "var" / "users.json")
    users.add("dave", None, (), ())  # `wps-server users add dave --no-password`
    users.change("dave", budget=parse_budget("0.5", "EUR"))
    token = bearer(issuer.token("dave"))
    refused = web.post(
        "/ogcapi/processes/cluster_sleep/execution",
        json={"inputs": {"tasks": 1, "seconds": 0.1, "cluster": "metered"}},
        headers=token,
    )
    assert refused.status_code == 402, refused.get_data(as_text=True)
    detail = refused.get_json()["detail"]
    assert "estimated at 1.00 EUR but 0.50 EUR is left of the monthly budget of user:dave" in detail
    assert web.get("/ogcapi/me", headers=token).get_json()["budget"]["account"] == "user:dave"
    # the entry never signs in with Basic, whatever password is tried
    for password in ("", "any-password-1"):
        answer = web.get("/ogcapi/jobs", headers=basic("dave", password))
        assert answer.status_code == 401
        assert "the user name and password were not accepted" in answer.get_json()["detail"]


def test_a_cap_reached_mid_job_stops_it_and_closes_its_cluster(web: CheckedClient) -> None:
    # burst bills 1 EUR a second; the job says its tasks are short (estimate: 1 EUR, under the cap)
    # but they take 20 s: the cap is reached after about a second
    stopped = run(
        web,
        "alice",
        {"tasks": 400, "seconds": 0.05, "declared": 0.001, "cluster": "burst", "max_cost": 1.2},
        "cluster_spin",
    )
    assert stopped.status_code == 402, stopped.get_data(as_text=True)  # type: ignore[attr-defined]
    detail = stopped.get_json()["detail"]  # type: ignore[attr-defined]
    assert "the job was stopped: its running bill reached" in detail and "the max_cost of 1.2 EUR" in detail
    assert "its cluster was closed" in detail
    jobs = web.get("/ogcapi/jobs", headers=basic("alice")).get_json()["jobs"]
    assert jobs[0]["status"] == "failed"
    assert jobs[0]["costs"] >= 1.2 and jobs[0]["currency"] == "EUR" and jobs[0]["budget"] == 1.2
    assert jobs[0]["usage"]["cpu"]["unit"] == "cpu-seconds" and jobs[0]["usage"]["duration"]["value"] > 0
    assert jobs[0]["usage"]["memory"]["unit"] == "mb-seconds" and jobs[0]["usage"]["memory"]["value"] > 0
    me = web.get("/ogcapi/me", headers=basic("alice")).get_json()
    assert me["budget"]["spent"] == pytest.approx(jobs[0]["costs"], abs=0.01)
    engine = web.application.extensions["wps"].engine
    assert engine.clusters.registry.records() == []  # the job's cluster is closed, not left running
    bill = engine.store.cost(jobs[0]["jobID"])
    assert bill is not None and bill["tasks"] < 400  # stopped before its tasks were done


def test_an_estimate_above_the_cap_is_refused_before_the_start(web: CheckedClient) -> None:
    refused = run(
        web, "alice", {"tasks": 100, "seconds": 1, "cluster": "burst", "max_cost": 5}, "cluster_spin"
    )
    assert refused.status_code == 402  # type: ignore[attr-defined]
    assert "more than its max_cost of 5" in refused.get_json()["detail"]  # type: ignore[attr-defined]


@pytest.fixture
def ten_euros(database_url: str, tmp_path: Path) -> Iterator[Budgets]:
    """The budgets of a users file where alice has 10 EUR a month."""
    engine = make_engine(database_url)
    migrate(engine)
    users = UsersFile(tmp_path / "users.json")
    users.add("alice", "a-long-secret", (), ())
    users.change("alice", budget=parse_budget("10", "EUR"))
    yield Budgets(engine, users)
    engine.dispose()


def test_concurrent_reservations_cannot_overspend(ten_euros: Budgets) -> None:
    budgets, alice = ten_euros, User("alice")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def reserve(n: int) -> None:
        start.wait()
        try:
            budgets.reserve(alice, f"00000000-0000-4000-8000-{n:012d}", 3.0, "EUR")
            outcomes.append("reserved")
        except PaymentRequired:
            outcomes.append("refused")

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["reserved"] * 3
    standing = budgets.standing(alice)
    assert standing is not None and standing.spent == Decimal("9.00") and standing.left == Decimal("1.00")


def test_parallel_requests_cannot_overspend_together(web: CheckedClient, tmp_path: Path) -> None:
    # each job is estimated (and billed) at 3 EUR: of 8 requests at once, 3 fit in 10 EUR (its tasks
    # are its own: Dask would run tasks of one key once for all the jobs that submit it)
    UsersFile(tmp_path / "var" / "users.json").change("alice", budget=parse_budget("10", "EUR"))
    start = threading.Barrier(8)
    codes: list[int] = []

    def submit() -> None:
        client = checked_client(web.application)
        start.wait()
        codes.append(run(client, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "triple"}).status_code)  # type: ignore[attr-defined]

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] * 3 + [402] * 5
    me = web.get("/ogcapi/me", headers=basic("alice")).get_json()
    assert (me["budget"]["spent"], me["budget"]["budget"]) == (9.0, 1.0)


def test_a_resumed_job_reserves_again_on_top_of_its_earlier_attempt(ten_euros: Budgets) -> None:
    budgets, alice = ten_euros, User("alice")
    job_id = "00000000-0000-4000-8000-00000000abcd"
    first = job_spending(budgets, "alice", job_id)
    first["reserve"](3.0, "EUR")  # the server is killed here: this attempt is never settled
    resumed = job_spending(budgets, "alice", job_id)
    resumed["reserve"](4.0, "EUR")
    assert budgets.charged(job_id) == (Decimal("7.00"), "EUR", False)
    with pytest.raises(PaymentRequired, match=r"estimated at 4\.00 EUR but 3\.00 EUR is left"):
        job_spending(budgets, "alice", job_id)["reserve"](4.0, "EUR")
    resumed["settle"](2.5)
    assert budgets.charged(job_id) == (Decimal("5.50"), "EUR", True)
    standing = budgets.standing(alice)
    assert standing is not None and standing.spent == Decimal("5.50") and standing.left == Decimal("4.50")


def test_jobs_cost_shows_spent_and_left(web: CheckedClient, tmp_path: Path, database_url: str) -> None:
    assert run(web, "alice", {"tasks": 1, "seconds": 0.1, "cluster": "metered"}).status_code == 200  # type: ignore[attr-defined]
    config = tmp_path / "server.cfg"
    config.write_text(
        f"[server]\ndata_dir = {tmp_path / 'var'}\n[database]\nurl = {database_url}\n[auth]\nmethods = basic\n"
    )
    shown = subprocess.run(
        [sys.executable, "-m", "wps_server.cli", "--config", str(config), "jobs", "cost"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=True,
    ).stdout
    assert re.search(r"cluster_sleep\s+alice\s+metered", shown)
    assert re.search(r"user:alice\s+1.5 EUR\s+1.00 EUR\s+0.50 EUR", shown)
    assert re.search(r"group:team\s+100 EUR\s+0.00 EUR\s+100.00 EUR", shown)
