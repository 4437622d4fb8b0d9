"""Profiles: loading, secrets, validation messages, billing rounding, lazy upstream resolution."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_testkit import EXAMPLE, EXAMPLE_ENV

from cluster.errors import MissingDependencyError, ProfileConfigError, UnknownProfileError
from cluster.profiles import Billing, ProfileRegistry, load_profiles, parse_profile, parse_registry
from cluster.upstream import KINDS, cluster_kwargs, resolve_upstream

PRICE = {"amount": 0.17, "currency": "USD", "as_of": "2025-01-15"}


def test_example_has_one_profile_per_kind(example: ProfileRegistry) -> None:
    assert sorted({p.kind for p in example}) == sorted(KINDS)
    assert example.get().name == "local"
    assert example.get().shared and example.get("onprem-scheduler").shared
    for profile in example:
        if profile.kind not in ("local", "scheduler"):
            assert not profile.shared, profile.name
            assert profile.price is not None and profile.price.as_of == dt.date(2025, 1, 15)


def test_example_prices_and_billing(example: ProfileRegistry) -> None:
    aws, gcp, ovh, pbs = (example.get(n) for n in ("aws", "gcp", "ovh", "hpc-pbs"))
    assert (aws.instance_type, aws.worker_hour_price, aws.currency) == ("c6i.xlarge", 0.17, "USD")
    assert (aws.billing.granularity_s, aws.billing.minimum_s) == (1, 60)
    assert (gcp.billing.granularity_s, gcp.billing.minimum_s) == (1, 60)
    assert (ovh.billing.granularity_s, ovh.billing.minimum_s) == (3600, 3600)
    # per core-hour: 8 cores x 0.02 EUR
    assert pbs.worker_threads == 8 and pbs.worker_hour_price == pytest.approx(0.16)
    assert pbs.options["processes"] == 1


def test_no_file_gives_the_default_local_profile(tmp_path: Path) -> None:
    for registry in (load_profiles(None), load_profiles(tmp_path / "absent.yaml", missing_ok=True)):
        profile = registry.get()
        assert (profile.kind, profile.shared, profile.price) == ("local", True, None)
        assert registry.names() == ["local"]
    with pytest.raises(ProfileConfigError, match="does not exist"):
        load_profiles(tmp_path / "absent.yaml")


def test_unknown_profile_lists_known_ones(example: ProfileRegistry) -> None:
    with pytest.raises(UnknownProfileError, match=r"known profiles: .*aws"):
        example.get("nope")


def test_secrets_from_environment_go_to_dask_config(example: ProfileRegistry) -> None:
    hetzner = example.get("hetzner")
    assert hetzner.dask_config["cloudprovider.hetzner.token"] == "hcloud-test-token"
    assert "hcloud-test-token" not in repr(hetzner)
    assert "hcloud-test-token" not in str(hetzner.public())
    assert example.get("azure").options["subscription_id"] == EXAMPLE_ENV["AZURE_SUBSCRIPTION_ID"]


def test_substitution_inside_strings_and_escape() -> None:
    profile = parse_profile(
        "s",
        {"kind": "local", "options": {"local_directory": "/scratch/${USER_DIR}/x", "name": "$${literal}"}},
        env={"USER_DIR": "u1"},
    )
    assert profile.options["local_directory"] == "/scratch/u1/x"
    assert profile.options["name"] == "${literal}"


def test_missing_secret_names_the_variable() -> None:
    env = {k: v for k, v in EXAMPLE_ENV.items() if k != "HCLOUD_TOKEN"}
    with pytest.raises(ProfileConfigError) as info:
        load_profiles(EXAMPLE, env=env)
    assert info.value.profile == "hetzner"
    assert info.value.field == "dask_config.cloudprovider.hetzner.token"
    assert "HCLOUD_TOKEN is not set" in str(info.value)


def _error(body: dict[str, Any], env: dict[str, str] | None = None) -> ProfileConfigError:
    with pytest.raises(ProfileConfigError) as info:
        parse_profile("p", body, env=env or {}, today=dt.date(2026, 11, 1))
    return info.value


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "mesos"}, "kind", "unknown kind 'mesos'; known kinds: local, scheduler"),
        ({"kind": "local", "max_workers": 0}, "max_workers", "must be >= 1, got 0"),
        ({"kind": "local", "max_workers": "4"}, "max_workers", "must be an integer"),
        ({"kind": "local", "min_workers": 3, "max_workers": 2}, "min_workers", "larger than max_workers"),
        ({"kind": "local", "colour": "red"}, "colour", "unknown field"),
        (
            {"kind": "ec2", "options": {"region": "x", "security_groups": ["sg-1"]}},
            "price",
            "per-job profiles need a price",
        ),
        (
            {"kind": "ec2", "options": {"region": "x"}, "price": PRICE},
            "options.security_groups",
            "name the security group ids",
        ),
        ({"kind": "local", "start_timeout_seconds": 0}, "start_timeout_seconds", "must be >= 1"),
        ({"kind": "local", "price": {**PRICE, "amount": -1}}, "price.amount", "must be >= 0"),
        ({"kind": "local", "price": {"amount": 1, "as_of": "2025-01-01"}}, "price.currency", "ISO 4217"),
        ({"kind": "local", "price": {**PRICE, "currency": "usd"}}, "price.currency", "ISO 4217"),
        ({"kind": "local", "price": {**PRICE, "as_of": "15/01/2025"}}, "price.as_of", "a date YYYY-MM-DD"),
        ({"kind": "local", "price": {**PRICE, "as_of": None}}, "price.as_of", "the date the price was read"),
        ({"kind": "local", "price": {**PRICE, "as_of": "2030-01-01"}}, "price.as_of", "in the future"),
        ({"kind": "local", "price": {**PRICE, "per": "day"}}, "price.per", "'worker-hour' or 'core-hour'"),
        ({"kind": "local", "billing": {"granularity_seconds": 0}}, "billing.granularity_seconds", ">= 1"),
        (
            {"kind": "local", "billing": {"granularity_seconds": 1.5}},
            "billing.granularity_seconds",
            "integer",
        ),
        ({"kind": "local", "billing": {"minimum_seconds": -60}}, "billing.minimum_seconds", ">= 0"),
        ({"kind": "local", "billing": {"every": 60}}, "billing.every", "unknown field"),
        ({"kind": "local", "options": {"n_workers": 4}}, "options.n_workers", "set by the cluster lifecycle"),
        (
            {"kind": "hetzner", "options": {"token": "${T}"}, "price": PRICE},
            "options.token",
            "cloudprovider.hetzner.token",
        ),
        (
            {"kind": "hetzner", "dask_config": {"cloudprovider.hetzner.token": "abc123"}, "price": PRICE},
            "dask_config.cloudprovider.hetzner.token",
            "use '${ENV_VAR}'",
        ),
        (
            {"kind": "local", "worker_threads": 2, "options": {"threads_per_worker": 4}},
            "worker_threads",
            "disagrees with options.threads_per_worker",
        ),
        (
            {"kind": "pbs", "options": {"cores": 8, "memory": "8GiB", "processes": 4}, "price": PRICE},
            "options.processes",
            "one Dask worker per batch job",
        ),
        ({"kind": "slurm", "options": {"memory": "8GiB"}, "price": PRICE}, "options.cores", "cores"),
        ({"kind": "slurm", "options": {"cores": 4}, "price": PRICE}, "options.memory", "memory"),
        ({"kind": "scheduler"}, "options.address", "tcp://host:8786"),
        ({"kind": "scheduler", "shared": False, "options": {"address": "tcp://h:1"}}, "shared", "existing"),
        (
            {"kind": "ssh", "max_workers": 3, "options": {"hosts": ["a", "b"]}, "price": PRICE},
            "max_workers",
            "more than the 1 worker hosts",
        ),
        ({"kind": "local", "relative_speed": 0}, "relative_speed", "must be > 0"),
        ({"kind": "local", "storage": ""}, "storage", "an absolute folder or s3://bucket/prefix"),
        ({"kind": "local", "storage": 3}, "storage", "an absolute folder or s3://bucket/prefix"),
        ({"kind": "local", "storage": "shared/jobs"}, "storage", "must be an absolute folder"),
        ({"kind": "local", "storage": "s3://x/jobs"}, "storage", "is not a bucket name"),
        ({"kind": "local", "storage": "https://host/jobs"}, "storage", "neither a folder nor s3://"),
        ({"kind": "local", "options": {"x": "${1BAD}"}}, "options.x", "not a valid environment variable"),
    ],
)
def test_misconfiguration_is_reported_clearly(body: dict[str, Any], field: str, message: str) -> None:
    err = _error(body)
    assert err.profile == "p"
    assert err.field == field
    assert message in str(err)
    assert str(err).startswith(f"profile 'p', field '{field}': ")


def test_storage_names_its_bucket_with_a_variable(tmp_path: Path) -> None:
    body = {"kind": "local", "storage": "s3://${JOBS_BUCKET}/space-wps/jobs"}
    profile = parse_profile("p", body, env={"JOBS_BUCKET": "my-wps-bucket"})
    assert profile.storage == "s3://my-wps-bucket/space-wps/jobs"
    folder = parse_profile("p", {"kind": "local", "storage": "${SHARED}/jobs"}, env={"SHARED": str(tmp_path)})
    assert folder.storage == f"{tmp_path}/jobs"
    # the value, once resolved, is checked like a written one
    err = _error(body, env={"JOBS_BUCKET": "Not_A_Bucket"})
    assert err.field == "storage" and "is not a bucket name" in str(err)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "environment variable JOBS_BUCKET is not set"),
        ({"JOBS_BUCKET": ""}, "environment variable JOBS_BUCKET is empty"),
    ],
)
def test_storage_with_an_unset_variable_is_refused_naming_it(env: dict[str, str], message: str) -> None:
    err = _error({"kind": "local", "storage": "s3://${JOBS_BUCKET}/jobs"}, env=env)
    assert (err.profile, err.field) == ("p", "storage")
    assert str(err) == f"profile 'p', field 'storage': {message}"


def test_empty_variable_is_an_error() -> None:
    err = _error({"kind": "local", "options": {"x": "${EMPTY}"}}, env={"EMPTY": ""})
    assert "EMPTY is empty" in str(err)


def test_file_level_errors(tmp_path: Path) -> None:
    bad = tmp_path / "clusters.yaml"
    bad.write_text("profiles: [a, b]\n")
    with pytest.raises(ProfileConfigError, match="non-empty mapping"):
        load_profiles(bad, env={})
    bad.write_text("profiles: {a: {kind: local}}\ndefault: b\n")
    with pytest.raises(ProfileConfigError, match="'b' is not one of"):
        load_profiles(bad, env={})
    bad.write_text("profiles: {Bad Name: {kind: local}}\n")
    with pytest.raises(ProfileConfigError, match="lowercase"):
        load_profiles(bad, env={})
    bad.write_text("profiles: {a: {kind: local}\n")
    with pytest.raises(ProfileConfigError, match="not valid YAML"):
        load_profiles(bad, env={})


def test_price_date_from_yaml_date_and_string() -> None:
    raw = yaml.safe_load("profiles: {a: {kind: local, price: {amount: 1, currency: EUR, as_of: 2025-03-01}}}")
    registry = parse_registry(raw, env={})
    price = registry.get("a").price
    assert price is not None and price.as_of == dt.date(2025, 3, 1)


@pytest.mark.parametrize(
    ("granularity", "minimum", "seconds", "billed"),
    [
        (1, 60, 12.2, 60),  # GCP/AWS: a short worker pays the minute
        (1, 60, 61.2, 62),
        (3600, 3600, 1.0, 3600),  # hourly providers
        (3600, 3600, 3600.0000001, 3600),  # float noise does not cost an hour
        (3600, 3600, 3601, 7200),
        (60, 0, 0.0, 0),
    ],
)
def test_billing_rounding(granularity: int, minimum: int, seconds: float, billed: int) -> None:
    assert Billing(granularity, minimum).billed_seconds(seconds) == billed


def test_threads_are_written_into_upstream_options(example: ProfileRegistry) -> None:
    assert example.get("aws").options["worker_options"] == {"nthreads": 4}
    assert example.get("ovh").options["worker_threads"] == 4
    assert example.get("ssh-lab").options["worker_options"] == {"nthreads": 8}
    assert example.get("local").options["threads_per_worker"] == 1


def test_cluster_kwargs_size_and_tag_per_job(example: ProfileRegistry) -> None:
    kube = cluster_kwargs(example.get("k8s"), 50, "Job_42/A")
    assert kube["n_workers"] == 20  # capped by max_workers
    assert kube["name"] == "wps-job-42-a"
    ssh = cluster_kwargs(example.get("ssh-lab"), 2, "j")
    assert ssh["hosts"] == ["lab-01", "lab-02", "lab-03"]
    aws = cluster_kwargs(example.get("aws"), 3, "j-1")
    assert aws["instance_tags"] == {"space-wps-job": "j-1"}
    assert aws["scheduler_options"] == {"idle_timeout": "30 minutes"}  # the profile's own value wins
    hetzner = cluster_kwargs(example.get("hetzner"), 3, "j-1")
    assert hetzner["scheduler_options"] == {"idle_timeout": "1800s"}
    # the profile itself is not changed by building kwargs
    assert "n_workers" not in example.get("hetzner").options


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # what an uninstalled package looks like
    with pytest.raises(MissingDependencyError) as info:
        resolve_upstream("slurm")
    assert info.value.extra == "cloud"
    assert "pip install 'space-wps[cloud]'" in str(info.value)
    assert "dask_jobqueue" in str(info.value)


def test_container_profiles_run_the_projects_image(example: ProfileRegistry) -> None:
    """Workers must have S2P and this project: the example names the project's image, never Dask's."""
    text = EXAMPLE.read_text()
    assert "ghcr.io/dask" not in text and "daskdev/dask" not in text
    image = EXAMPLE_ENV["WPS_WORKER_IMAGE"]
    for name in ("aws", "azure", "gcp", "ovh", "hetzner"):
        assert example.get(name).options["docker_image"] == image, name
    assert example.get("k8s").options["image"] == image


def test_the_readme_shows_the_example_profiles_as_they_are() -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    section = readme.split("## Clusters and cost", 1)[1].split("\n## ", 1)[0]
    shown: dict[str, Any] = {}
    for block in section.split("```yaml\n")[1:]:
        shown |= yaml.safe_load(block.split("```", 1)[0])
    assert shown == yaml.safe_load(EXAMPLE.read_text())["profiles"]
