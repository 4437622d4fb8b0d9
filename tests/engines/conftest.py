"""Engines the per-job cluster tests run on, started once per session from Debian's packages, on
loopback only, and stopped at the end: OpenSSH's sshd, a one-node SLURM cluster (munge, slurmctld,
slurmd); and worker Python environments (the server's, and one without this project)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engines import slurm, sshd
from tests.engines.required import require_engine
from tests.engines.worker_envs import WorkerEnvs, make_worker_envs


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.SSHServer]:
    require_engine(sshd.available(), sshd.MISSING)
    with sshd.running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm.SlurmCluster]:
    require_engine(slurm.available(), slurm.MISSING)
    with slurm.running_slurm(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def worker_envs(tmp_path_factory: pytest.TempPathFactory) -> WorkerEnvs:
    return make_worker_envs(tmp_path_factory.mktemp("worker-envs"))
