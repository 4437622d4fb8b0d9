"""Each user is told of the cluster profiles they may use only: the `cluster` input's description,
the unknown-profile error (of a job run at once or by the runner) and s2p_estimate's comparison, whose
cheapest profile is never one the user would get 403 on."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from processes import wps_s2p_estimate, wps_s2p_stereo
from tests.auth.conftest import PASSWORDS, basic
from tests.auth.test_roles import PROFILES
from tests.e2e.server import REPO
from tests.jobs.cluster_processes import cluster_processes
from tests.wps.interfaces import CheckedClient, checked_client, poll, running_jobs
from wps_server.config import Settings
from wps_server.process import Process
from wps_server.users import UsersFile

PAIR = REPO / "tests" / "data" / "s2p" / "pair"


def with_s2p(settings: Settings) -> list[Process]:
    return [
        *cluster_processes(settings),
        wps_s2p_stereo.process(settings),
        wps_s2p_estimate.process(settings),
    ]


@pytest.fixture
def app(make_auth_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    """bob may use `local`; erin (role cloud) `local` and the priced `burst`."""
    profiles = tmp_path / "clusters.yaml"
    profiles.write_text(PROFILES)
    made = make_auth_app(processes=with_s2p, cluster={"profiles_file": str(profiles)})
    PASSWORDS["erin"] = "erin-secret-55"
    UsersFile(tmp_path / "var" / "users.json").add("erin", PASSWORDS["erin"], ("cloud",), ())
    shutil.copytree(PAIR, tmp_path / "data" / "pair")
    yield made
    made.extensions["wps"].engine.clusters.close()


def test_descriptions_name_ones_own_profiles(app: Flask) -> None:
    web = checked_client(app)
    for process in ("s2p_stereo", "s2p_estimate"):
        for who, offered in (("bob", ["local"]), ("erin", ["burst", "local"])):
            ogc = web.get(f"/ogcapi/processes/{process}", headers=basic(who)).get_data(as_text=True)
            wps = web.get(
                f"/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier={process}",
                headers=basic(who),
            ).get_data(as_text=True)
            # s2p_estimate's profiles input points to s2p_stereo's cluster input rather than listing them
            assert ("burst" in ogc) == ("burst" in wps) == (who == "erin" and process == "s2p_stereo")
            if process == "s2p_stereo":
                assert json.loads(ogc)["inputs"]["cluster"]["schema"]["enum"] == offered


def sleep_on(web: CheckedClient, who: str, cluster: str, prefer: str = "") -> tuple[int, str]:
    """(status, problem detail or job id) of a cluster_sleep job on ``cluster``."""
    answer = web.post(
        "/ogcapi/processes/cluster_sleep/execution",
        json={"inputs": {"tasks": 1, "seconds": 0.1, "cluster": cluster}},
        headers={**basic(who), **({"Prefer": prefer} if prefer else {})},
    )
    body = answer.get_json()
    return answer.status_code, str(body.get("detail") or body.get("jobID"))


def test_the_unknown_profile_error_lists_ones_own(app: Flask) -> None:
    web = checked_client(app)
    assert (
        sleep_on(web, "bob", "mars")[1] == "there is no cluster profile 'mars'; use one of local (at cluster)"
    )
    assert "use one of burst, local (at cluster)" in sleep_on(web, "erin", "mars")[1]
    # a queued job keeps what its submitter may use: the runner's error lists bob's profiles too
    with running_jobs(app, with_clusters=True):
        status, job_id = sleep_on(web, "bob", "mars", "respond-async")
        assert status == 201
        poll(lambda: web.get(f"/ogcapi/jobs/{job_id}", headers=basic("bob")).get_json()["status"] == "failed")
    message = web.get(f"/ogcapi/jobs/{job_id}", headers=basic("bob")).get_json()["message"]
    assert "there is no cluster profile 'mars'; use one of local" in message and "burst" not in message


def estimate(web: CheckedClient, who: str, profiles: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    images = [{"href": f"pair/img_0{n}.tif", "type": "image/tiff; application=geotiff"} for n in (1, 2)]
    inputs: dict[str, object] = {"images": images, "roi_pixels": "150,150,700,700", "tile_size": 300}
    if profiles:
        inputs["profiles"] = list(profiles)
    answer = web.post(
        "/ogcapi/processes/s2p_estimate/execution",
        json={"inputs": inputs, "outputs": {"estimate": {}}, "response": "raw"},
        headers=basic(who),
    )
    return answer.status_code, answer.get_json()


def test_the_estimate_compares_ones_own_profiles(app: Flask) -> None:
    web = checked_client(app)
    status, bobs = estimate(web, "bob")
    assert status == 200, bobs
    assert {row["profile"] for row in bobs["rows"]} == {"local"}
    assert bobs["best"] is None or bobs["best"]["profile"] != "burst"
    status, erins = estimate(web, "erin")
    assert status == 200, erins
    assert {row["profile"] for row in erins["rows"]} == {"burst", "local"}
    assert erins["best"]["profile"] == "burst"
    status, refused = estimate(web, "bob", ("burst",))
    assert status == 400 and "unknown profile(s) burst; use some of local" in str(refused["detail"]), refused
