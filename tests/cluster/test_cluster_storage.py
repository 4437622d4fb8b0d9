"""Job storage: the same contract on a local folder and on an S3 object store (moto's server on
loopback, credentials checked); start-up refuses a storage it cannot use, naming the key and why; a
server whose [jobs] storage is an object store keeps outputs there, serves them, and removes them on
dismissal and at retention."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rasterio
from click.testing import CliRunner
from flask import Flask
from lxml import etree
from pywps.tests import client_for

from cluster.storage import JobStorage, LocalFolder, ObjectStore, StorageError, export_gdal_s3_environment
from tests.e2e.server import free_port
from tests.s3server import NoBatchDeleteProxy, S3Server
from wps_server.cli import main
from wps_server.cluster_client import SchedulerConnection
from wps_server.config import Settings, load_settings
from wps_server.jobs.runner import Runner

PAIR = Path(__file__).parents[1] / "data" / "s2p" / "pair"


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> JobStorage:
    if request.param == "folder":
        return LocalFolder(tmp_path / "store")
    server: S3Server = request.getfixturevalue("s3_env")
    return ObjectStore(server.bucket(), "wps/prod")


def test_the_contract_of_both_back_ends(storage: JobStorage, tmp_path: Path) -> None:
    storage.check()
    source = tmp_path / "source.bin"
    source.write_bytes(b"\x00\x01" * 5000)
    assert storage.put_file(source, "jobs/a/tiles/one.bin") == 10000
    storage.put_bytes(b'{"done": true}', "jobs/a/markers/step.json")
    storage.put_bytes(b"other job", "jobs/ab/x.txt")
    assert storage.read_bytes("jobs/a/markers/step.json") == b'{"done": true}'
    assert storage.read_bytes("jobs/a/markers/none.json") is None
    assert storage.size("jobs/a/tiles/one.bin") == 10000 and storage.size("jobs/a/nothing") is None
    assert storage.get_file("jobs/a/tiles/one.bin", tmp_path / "back" / "one.bin") == 10000
    assert (tmp_path / "back" / "one.bin").read_bytes() == source.read_bytes()
    found = storage.stream("jobs/a/tiles/one.bin")
    assert found is not None and found[0] == 10000 and b"".join(found[1]) == source.read_bytes()
    assert storage.stream("jobs/a/none") is None
    assert storage.keys("jobs/a") == ["jobs/a/markers/step.json", "jobs/a/tiles/one.bin"]
    assert storage.child("jobs/a").read_bytes("markers/step.json") == b'{"done": true}'
    with pytest.raises(ValueError, match="not a storage key"):
        storage.read_bytes("jobs/../../etc/passwd")
    assert storage.delete("jobs/a") == 2
    assert storage.keys("jobs/a") == [] and storage.read_bytes("jobs/ab/x.txt") == b"other job"


def test_gdal_reads_windows_where_the_storage_keeps_them(storage: JobStorage) -> None:
    """What S2P's workers do with the job's images: rasterio (and GDAL's tools) open the storage's path."""
    export_gdal_s3_environment()
    storage.put_file(PAIR / "img_01.tif", "jobs/a/inputs/img_01.tif")
    with (
        rasterio.open(storage.gdal_path("jobs/a/inputs/img_01.tif")) as remote,
        rasterio.open(PAIR / "img_01.tif") as local,
    ):
        window = ((300, 340), (500, 560))
        assert remote.shape == (1024, 1024)
        assert (remote.read(1, window=window) == local.read(1, window=window)).all()


def test_a_store_without_multi_object_delete_and_checksums_is_used_as_it_is(
    s3_env: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through a proxy that answers multi-object deletes 501 NotImplemented (as GCS's XML API does),
    deletion falls back to one request per object; no upload carries the checksums that boto3 adds
    by default and that several S3-compatible stores refuse."""
    bucket = s3_env.bucket()
    source = tmp_path / "tile.bin"
    source.write_bytes(b"\x07" * 3000)
    with NoBatchDeleteProxy(s3_env.endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        store = ObjectStore(bucket, "wps")
        store.check()
        for name in ("one", "two", "three"):
            store.put_bytes(name.encode(), f"jobs/a/{name}.txt")
        assert store.put_file(source, "jobs/a/tile.bin") == 3000
        store.put_bytes(b"other job", "jobs/b/keep.txt")
        assert store.read_bytes("jobs/a/one.txt") == b"one" and store.size("jobs/a/tile.bin") == 3000
        assert store.get_file("jobs/a/tile.bin", tmp_path / "back.bin") == 3000
        assert store.delete("jobs/a") == 4
        assert store.keys("jobs/a") == [] and store.keys("jobs/b") == ["jobs/b/keep.txt"]
    batches = [r for r in proxy.requests if r.method == "POST" and "delete" in r.query]
    assert [r.status for r in batches] == [501]
    job = f"/{bucket}/wps/jobs/a/"
    singles = sorted(r.path for r in proxy.requests if r.method == "DELETE" and r.path.startswith(job))
    assert singles == [f"{job}{n}" for n in ("one.txt", "three.txt", "tile.bin", "two.txt")]
    uploads = [r for r in proxy.requests if r.method == "PUT"]
    assert len(uploads) >= 6  # the probe, four objects, the other job's
    assert not [
        h for r in uploads for h in r.headers if h.lower().startswith(("x-amz-checksum", "x-amz-sdk-"))
    ]


def _refusal(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, case: str) -> tuple[ObjectStore, str]:
    bucket = s3_server.bucket()
    env = s3_server.env()
    if case == "unreachable":
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        expected = "does not answer"
    elif case == "wrong secret":
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        expected = "credentials were refused (SignatureDoesNotMatch)"
    elif case == "unknown key":
        env["AWS_ACCESS_KEY_ID"] = "AKIAUNKNOWNKEY000000"
        expected = "credentials were refused (InvalidAccessKeyId)"
    elif case == "read only":
        reader = s3_server.user(f"reader-{bucket}", ["s3:Get*", "s3:List*"], ["*"])
        env.update(s3_server.env(reader))
        expected = "cannot write there: the credentials were refused (AccessDenied)"
    else:
        bucket = f"{bucket}-gone"
        expected = "the bucket does not exist"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ObjectStore(bucket, "wps"), expected


@pytest.mark.parametrize("case", ["unreachable", "wrong secret", "unknown key", "read only", "no bucket"])
def test_a_storage_that_cannot_be_used_is_refused_with_the_reason(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    store, expected = _refusal(s3_server, monkeypatch, case)
    with pytest.raises(StorageError, match=re.escape(expected)) as caught:
        store.check()
    assert caught.value.storage == store.url and s3_server.admin.secret not in str(caught.value)


@pytest.mark.parametrize("case", ["unreachable", "wrong secret"])
def test_the_runner_stops_at_start_up_on_such_a_storage(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str
) -> None:
    store, expected = _refusal(s3_server, monkeypatch, case)
    config = tmp_path / "server.cfg"
    config.write_text(f"[server]\ndata_dir = {tmp_path / 'var'}\n[jobs]\nstorage = {store.url}\n")
    result = CliRunner().invoke(main, ["--config", str(config), "runner"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"[jobs] storage {store.url} cannot be used: " in result.output and expected in result.output


def test_a_missing_local_folder_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(StorageError, match="cannot write there"):
        LocalFolder(tmp_path / "file" / "jobs").check()


# --------------------------------------------------------------------------- a server on the store

NS = {"wps": "http://www.opengis.net/wps/1.0.0"}


@pytest.fixture
def s3_settings(s3_env: S3Server, make_settings: Callable[..., Settings]) -> tuple[Settings, str]:
    bucket = s3_env.bucket()
    return make_settings(jobs={"storage": f"s3://{bucket}/wps", "retention_days": 0}), bucket


def _app(settings: Settings) -> Flask:
    from tests.wps.processes import test_processes
    from wps_server.app import create_app
    from wps_server.database import make_engine, migrate

    migrate(make_engine(settings.database_url))
    return create_app(settings, test_processes(settings))


def _echo_job(client: Any) -> str:
    """Runs an echo job whose output is stored by reference; its id."""
    answer = client.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=echo&DataInputs=document=x"
        "@mimeType=text/plain&ResponseDocument=copy@asReference=true"
    )
    href = etree.fromstring(answer.get_data()).xpath("//wps:Reference/@href", namespaces=NS)[0]
    return str(href.split("/outputs/")[1].split("/")[0])


def test_outputs_live_in_the_object_store_and_are_served_from_it(
    s3_env: S3Server, s3_settings: tuple[Settings, str]
) -> None:
    settings, bucket = s3_settings
    client = client_for(_app(settings))
    answer = client.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=echo&DataInputs=document=ab%20cd"
        "@mimeType=text/plain&ResponseDocument=copy@asReference=true;summary"
    )
    root = etree.fromstring(answer.get_data())
    href = root.xpath("//wps:Reference/@href", namespaces=NS)[0]
    job_id = href.split("/outputs/")[1].split("/")[0]
    assert s3_env.objects(bucket) == [f"wps/outputs/{job_id}/copy.txt", f"wps/outputs/{job_id}/summary.json"]
    assert not settings.outputs_dir.exists() or not any(settings.outputs_dir.iterdir())
    served = client.get(href.removeprefix("http://localhost"))
    assert served.status_code == 200 and served.get_data() == b"ab cd"
    assert served.headers["Content-Length"] == "5" and served.headers["Content-Type"].startswith("text/plain")
    inline = root.xpath(
        "//wps:Output[.//ows:Identifier='summary']//wps:ComplexData/text()",
        namespaces={
            **NS,
            "ows": "http://www.opengis.net/ows/1.1",
        },
    )
    assert json.loads(inline[0])["document_bytes"] == 5  # an inline output read back from the store
    missing = client.get(f"/outputs/{job_id}/nothing.txt")
    assert missing.status_code == 404


def test_dismissal_and_retention_remove_the_jobs_objects(
    s3_env: S3Server, s3_settings: tuple[Settings, str]
) -> None:
    settings, bucket = s3_settings
    client = client_for(_app(settings))
    ids = [_echo_job(client) for _ in range(2)]
    s3_env.s3().put_object(Bucket=bucket, Key=f"wps/jobs/{ids[0]}/s2p/markers/x.json", Body=b"{}")
    dismissed = client.get(f"/wps?service=WPS&version=2.0.0&request=Dismiss&JobID={ids[0]}")
    assert dismissed.status_code == 200
    assert s3_env.objects(bucket) == [f"wps/outputs/{ids[1]}/{n}" for n in ("copy.txt", "summary.json")]
    from wps_server.database import make_engine
    from wps_server.jobs.store import JobStore

    runner = Runner(settings, [], JobStore(make_engine(settings.database_url)), SchedulerConnection("local"))
    assert ids[1] in runner.expire()
    assert s3_env.objects(bucket) == []


def test_dismissal_and_retention_empty_a_profiles_own_storage_too(
    s3_env: S3Server, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """A job on a profile with ``storage:`` keeps its folder there (the workers' store, not the
    server's): dismissing it, and the retention sweep, remove its objects there too."""
    lab = s3_env.bucket("lab")
    profiles = tmp_path / "clusters.yaml"
    profiles.write_text(
        f"profiles:\n  local: {{kind: local, max_workers: 1}}\n  lab: {{kind: local, storage: 's3://{lab}/wps'}}\n"
    )
    settings = make_settings(cluster={"profiles_file": str(profiles)}, jobs={"retention_days": 0})
    client = client_for(_app(settings))
    ids = [_echo_job(client) for _ in range(2)]
    for job_id in ids:  # what an S2P job on the profile leaves in its store
        for key in (f"wps/jobs/{job_id}/s2p/markers/x.json", f"wps/jobs/{job_id}/inputs/000_images.tif"):
            s3_env.s3().put_object(Bucket=lab, Key=key, Body=b"{}")
    assert client.get(f"/wps?service=WPS&version=2.0.0&request=Dismiss&JobID={ids[0]}").status_code == 200
    assert s3_env.objects(lab) == [
        f"wps/jobs/{ids[1]}/{k}" for k in ("inputs/000_images.tif", "s2p/markers/x.json")
    ]
    from wps_server.database import make_engine
    from wps_server.jobs.store import JobStore

    runner = Runner(settings, [], JobStore(make_engine(settings.database_url)), SchedulerConnection("local"))
    assert ids[1] in runner.expire()
    assert s3_env.objects(lab) == []


def test_retention_keeps_a_job_whose_objects_could_not_be_removed(
    s3_env: S3Server, s3_settings: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, bucket = s3_settings
    client = client_for(_app(settings))
    answer = client.get(
        "/wps?service=WPS&version=1.0.0&request=Execute&identifier=echo&DataInputs=document=x"
        "@mimeType=text/plain&ResponseDocument=copy@asReference=true"
    )
    href = etree.fromstring(answer.get_data()).xpath("//wps:Reference/@href", namespaces=NS)[0]
    from wps_server.database import make_engine
    from wps_server.jobs.store import JobStore

    store = JobStore(make_engine(settings.database_url))
    runner = Runner(settings, [], store, SchedulerConnection("local"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "revoked")
    assert runner.expire() == []
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env.admin.secret)
    job_id = href.split("/outputs/")[1].split("/")[0]
    assert store.get(job_id) is not None
    assert runner.expire() == [job_id] and s3_env.objects(bucket) == []


def test_settings_name_the_storage_of_the_server(make_settings: Callable[..., Settings]) -> None:
    assert make_settings().jobs.storage == ""
    assert load_settings(files=[], environ={"WPS_JOBS_STORAGE": "s3://bucket-a/x"}).jobs.storage == (
        "s3://bucket-a/x"
    )
