"""`wps-server catalogue ...`: ingest with a progress bar, queries, statistics and sensors, through the
configuration named by --config or $PYWPS_CFG, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from processes.ssa.catalogue import make_engine
from tests.ssa_wps.observations import has_statistics, many_observations_tdm
from wps_server.cli import main

SSA_DATA = Path(__file__).parent / "data" / "ssa"
SNAPSHOT = SSA_DATA / "gpconf" / "alpha5" / "alpha5-A-last-30-days-snapshot.tle"
OPTICAL = SSA_DATA / "tdm" / "optical_radec.kvn"
RADAR = SSA_DATA / "tdm" / "radar_azel.kvn"


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "ops.cfg"
    path.write_text(
        f"[server]\ndata_dir = {tmp_path / 'var'}\n[database]\nurl = {database_url}\n"
        f"[ssa]\nsensors_file = {SSA_DATA / 'tdm' / 'sensors.yaml'}\n"
    )
    migrated = CliRunner().invoke(main, ["--config", str(path), "migrate"])
    assert migrated.exit_code == 0, migrated.output
    return path


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    prefix = ["--config", str(config)] if env is None else []
    return CliRunner().invoke(main, [*prefix, "catalogue", *args], env=env)


def stats(config: Path) -> dict:  # type: ignore[type-arg]
    result = run(config, "stats", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_ingest_with_a_progress_bar_then_query(config: Path) -> None:
    result = run(config, "ingest", "--progress", "--source", "ops", str(SNAPSHOT), str(OPTICAL), str(RADAR))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("TLE TLE, 256 orbits, 256 new objects")
    assert lines[1].endswith("optical_radec.kvn: TDM KVN, 4 tracks (1 uncorrelated), 246 observations")
    assert "ingest: 100%" in result.stderr and "radar_azel.kvn" in result.stderr  # the bar and its file
    again = run(config, "ingest", "--no-progress", str(OPTICAL))
    assert "already ingested as message 2, nothing changed" in again.stdout and again.stderr == ""
    counts = stats(config)
    assert (counts["objects"], counts["sensors"], counts["messages"], counts["tracks"]) == (256, 2, 3, 6)
    objects = run(config, "query", "objects", "--id", "100404")
    assert json.loads(objects.stdout)[0]["name"] == "STARLINK-37821" and objects.stderr == "1 objects\n"
    tle = run(config, "query", "orbits", "--id", "100404", "--format", "tle")
    assert tle.stdout.startswith("1 A0404U") and tle.exit_code == 0
    window = ["--start", "2026-09-20T00:00:00Z", "--end", "2026-09-21T00:00:00"]
    rows = run(config, "query", "observations", *window, "--sensor", "TIRA", "--limit", "10")
    assert len(rows.stdout.splitlines()) == 11 and "next page: --offset 10" in rows.stderr
    tdm = run(config, "query", "observations", *window, "--object-id", "100404", "--format", "tdm-kvn")
    assert tdm.stdout.startswith("CCSDS_TDM_VERS = 2.0")
    long = run(config, "query", "observations", "--start", "2026-01-01", "--end", "2026-09-21")
    assert long.exit_code == 1 and "exceeds the maximum" in long.stderr and "Traceback" not in long.output


def test_a_refused_file_stores_nothing_and_names_the_sensor(config: Path, tmp_path: Path) -> None:
    run(config, "ingest", str(SNAPSHOT))
    before = stats(config)
    stranger = tmp_path / "stranger.kvn"
    stranger.write_text(OPTICAL.read_text().replace("OGS-TENERIFE", "UNKNOWN-SCOPE"))
    refused = run(config, "ingest", str(stranger), str(OPTICAL))
    assert refused.exit_code == 1
    assert "unknown sensor 'UNKNOWN-SCOPE'" in refused.stderr and "Traceback" not in refused.output
    assert stats(config) == before  # and the file after it was not tried
    going = run(config, "ingest", "--keep-going", str(stranger), str(OPTICAL))
    assert going.exit_code == 1 and "1 of 2 files refused" in going.stderr
    assert stats(config)["tracks"] == before["tracks"] + 4


def test_a_file_over_the_size_limit_is_refused_unread(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = tmp_path / "huge.kvn"
    with huge.open("wb") as f:  # 8 GiB, sparse: nothing is written
        f.truncate(8 * 2**30)
    config.write_text(config.read_text() + "max_message_size = 1mb\n")
    read = Path.read_bytes

    def guarded(path: Path) -> bytes:
        assert path != huge, "the huge file was read"
        return read(path)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    before = stats(config)
    refused = run(config, "ingest", "--keep-going", str(huge), str(OPTICAL))
    assert refused.exit_code == 1 and "1 of 2 files refused" in refused.stderr
    assert f"message has {8 * 2**30} bytes, more than the limit of 1048576" in refused.stderr
    assert stats(config)["tracks"] == before["tracks"] + 4  # the file after it was stored


def test_sensors_from_the_configured_file_and_the_command_line(config: Path) -> None:
    listed = run(config, "sensors", "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["OGS-TENERIFE", "TIRA"]
    add = ["sensors", "add", "GRAVES-RX", "--kind", "radar", "--lat", "47.348", "--lon", "5.5151"]
    assert run(config, *add, "--height", "180", "--max-range", "2500").exit_code == 0
    twice = run(config, *add)
    assert twice.exit_code == 1 and "already registered (use --replace)" in twice.stderr
    assert run(config, *add, "--min-elevation", "30", "--replace").exit_code == 0
    sensors = {s["code"]: s for s in json.loads(run(config, "sensors", "list", "--json").stdout)}
    assert sensors["GRAVES-RX"]["min_elevation_deg"] == 30.0 and sensors["GRAVES-RX"]["kind"] == "radar"
    bad = run(config, "sensors", "add", "X", "--kind", "sonar", "--lat", "0", "--lon", "0")
    assert bad.exit_code == 2 and "sonar" in bad.stderr
    far = run(config, "sensors", "add", "X", "--kind", "optical", "--lat", "95", "--lon", "0")
    assert far.exit_code == 2 and "--lat" in far.stderr


def test_pywps_cfg_is_honoured(config: Path) -> None:
    result = run(config, "sensors", "list", env={"PYWPS_CFG": str(config)})
    assert result.exit_code == 0 and "TIRA" in result.stdout
    missing = CliRunner().invoke(main, ["--config", "/no/such.cfg", "catalogue", "stats"])
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


def test_a_large_load_refreshes_postgresql_planner_statistics(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "pg.cfg"
    config.write_text(
        f"[server]\ndata_dir = {tmp_path / 'var'}\n[database]\nurl = {postgres_url}\n"
        f"[ssa]\nsensors_file = {SSA_DATA / 'tdm' / 'sensors.yaml'}\n"
    )
    engine = make_engine(postgres_url)
    assert CliRunner().invoke(main, ["--config", str(config), "migrate"]).exit_code == 0
    small = run(config, "ingest", str(SNAPSHOT), str(OPTICAL))
    assert small.exit_code == 0 and "planner statistics" not in small.stderr
    assert not has_statistics(engine, "ssa_observations")  # left to the periodic maintenance
    big = tmp_path / "big.kvn"
    big.write_text(many_observations_tdm(12_000))
    large = run(config, "ingest", str(big))
    assert large.exit_code == 0, large.output
    assert "planner statistics refreshed: ssa_observations" in large.stderr
    assert has_statistics(engine, "ssa_observations") and not has_statistics(engine, "ssa_tracks")
    engine.dispose()
