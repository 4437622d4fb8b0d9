"""Configuration layers: packaged defaults < ./pywps.cfg < --config/$PYWPS_CFG < WPS_* environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wps_server.cli import main
from wps_server.config import ConfigError, config_files, load_settings


def test_packaged_defaults() -> None:
    settings = load_settings(files=[], environ={})
    assert (settings.port, settings.workers, settings.jobs.retention_days) == (5000, 2, 7)
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("jobs.sqlite")
    assert settings.inputs.max_inline_size == 32 * 1024**2
    assert settings.dask.scheduler == "local"


def test_layers_apply_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pywps.cfg").write_text("[server]\nport = 6000\nworkers = 3\n[jobs]\nmax_queued = 7\n")
    extra = tmp_path / "extra.cfg"
    extra.write_text("[server]\nport = 7000\n")
    files = config_files(str(extra), environ={})
    assert files == [Path("pywps.cfg"), extra]
    settings = load_settings(files, environ={"WPS_JOBS_MAX_QUEUED": "9"})
    assert (settings.port, settings.workers, settings.jobs.max_queued) == (7000, 3, 9)
    assert config_files(None, environ={"PYWPS_CFG": str(extra)}) == [Path("pywps.cfg"), extra]


def test_variables_are_expanded_and_unset_ones_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "a.cfg"
    cfg.write_text("[database]\nurl = postgresql://wps:${PGPASSWORD}@db/wps\n")
    settings = load_settings([cfg], environ={"PGPASSWORD": "s3cret"})
    assert settings.database_url == "postgresql://wps:s3cret@db/wps"
    with pytest.raises(
        ConfigError, match=r"\[database\] url uses \$\{PGPASSWORD\}, but PGPASSWORD is not set"
    ):
        load_settings([cfg], environ={})


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("server", "port", "http", "must be a whole number"),
        ("server", "workers", "0", "at least 1"),
        ("server", "max_request_size", "lots", "must be a size"),
        ("server", "trusted_proxies", "-1", "at least 0"),
        ("server", "trusted_proxies", "one", "must be a whole number"),
        ("logging", "format", "xml", "json or text"),
        ("logging", "level", "LOUD", "DEBUG, INFO"),
        ("dask", "scheduler", "somewhere:8786", "tcp:// address"),
        ("jobs", "retention_days", "-1", "at least 0"),
        ("jobs", "storage", "var/shared", "must be an absolute folder or s3://bucket/prefix"),
        ("jobs", "storage", "gs://bucket/jobs", "neither a folder nor s3://bucket/prefix"),
        ("jobs", "storage", "s3://Bucket_Name/jobs", "is not a bucket name"),
        ("jobs", "storage", "s3://bucket/jobs/../../etc", "the prefix may hold"),
        ("jobs", "storage", "s3://bucket/jobs?acl=public", "the prefix may hold"),
        ("jobs", "link_expiry", "0", "at least 1"),
        ("jobs", "link_expiry", "an hour", "must be a whole number"),
        ("jobs", "link_expiry", "604801", "at most 604800 seconds"),
    ],
)
def test_bad_values_name_the_key(section: str, key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(files=[], environ={}, overrides={section: {key: value}})
    assert f"[{section}] {key}" in str(caught.value)


def test_cli_reports_configuration_errors_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["--config", str(tmp_path / "nope.cfg"), "jobs", "list"])
    assert missing.exit_code != 0 and "does not exist" in missing.output and "Traceback" not in missing.output
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("[database]\nurl = ${NOT_SET_ANYWHERE}\n")
    unset = runner.invoke(main, ["--config", str(cfg), "jobs", "list"], env={"NOT_SET_ANYWHERE": None})
    assert unset.exit_code != 0 and "NOT_SET_ANYWHERE is not set" in unset.output


def test_importing_modules_starts_nothing() -> None:
    import subprocess
    import sys

    code = (
        "import threading, wps_server.app, wps_server.service, wps_server.jobs.runner, wps_server.supervisor, "
        "wps_server.cli, processes; assert threading.active_count() == 1, threading.enumerate()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _default_keys() -> list[tuple[str, str, str]]:
    import configparser
    from importlib import resources

    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(resources.files("wps_server").joinpath("default.cfg").read_text())
    return [(s, k, parser.get(s, k)) for s in parser.sections() for k in parser.options(s)]


def test_every_key_of_the_defaults_is_accepted_from_a_file_and_the_environment(tmp_path: Path) -> None:
    keys = _default_keys()
    assert len(keys) > 40
    cfg = tmp_path / "all.cfg"
    sections: dict[str, list[str]] = {}
    for section, key, value in keys:
        sections.setdefault(section, []).append(f"{key} = {value}")
    cfg.write_text("".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items()))
    load_settings([cfg], environ={})
    environ = {f"WPS_{s.upper()}_{k.upper()}": v for s, k, v in keys}
    load_settings(files=[], environ=environ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[jobs]\nmax_concurent = 3\n", r"\[jobs\] has no key max_concurent; did you mean max_concurrent\?"),
        ("[serverr]\nport = 1\n", r"there is no section \[serverr\]; did you mean \[server\]\?"),
        ("[server]\nmax_concurrent = 3\n", r"\[server\] has no key max_concurrent; it belongs in \[jobs\]"),
        ("[inputs]\ndata_root = /data\n", r"did you mean data_roots\?"),
        ("[dask]\nschedular = local\n", r"did you mean scheduler\?"),
        ("[s2p]\nstep_timout = 10\n", r"did you mean step_timeout\?"),
        ("[jobs]\nfrobnicate = 1\n", r"\[jobs\] has no key frobnicate \("),
        ("[nothing_like_it]\na = 1\n", r"there is no section \[nothing_like_it\] \("),
        ("[DEFAULT]\nport = 1\n", r"there is no section \[DEFAULT\]"),
    ],
)
def test_unknown_sections_and_keys_are_refused_naming_file_and_closest_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    cfg = tmp_path / "typo.cfg"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings([cfg], environ={})
    assert str(cfg) in str(caught.value) and "default.cfg" in str(caught.value)


def test_environment_variables_of_a_known_section_must_name_a_known_key() -> None:
    with pytest.raises(ConfigError, match=r"WPS_JOBS_MAX_CONCURENT: \[jobs\] has no key max_concurent; did"):
        load_settings(files=[], environ={"WPS_JOBS_MAX_CONCURENT": "3"})
    # variables of sections the server does not have belong to other programs
    assert load_settings(files=[], environ={"WPS_TEST_DATABASE_URL": "x", "WPS_WORKER_IMAGE": "y"})


def test_the_cli_names_the_typo_without_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "typo.cfg"
    cfg.write_text("[jobs]\nmax_concurent = 3\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "jobs", "list"])
    assert result.exit_code != 0 and "did you mean max_concurrent?" in result.output
    assert "Traceback" not in result.output
