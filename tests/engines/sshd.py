"""Debian's OpenSSH server on 127.0.0.1, a free port, with host and client keys made for the test.

Its own ``sshd_config`` (nothing of the machine's sshd is read or changed): public-key login only, for
the user running the tests. What Python the sessions run is the profile's ``remote_python`` (see
:mod:`tests.engines.worker_envs`).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tests.e2e.server import free_port
from tests.engines.processes_running import start_daemon, stop_daemon, wait_until

SSHD = Path("/usr/sbin/sshd")
MISSING = "Debian's openssh-server is not installed (make test installs it)"


@dataclass(frozen=True)
class SSHServer:
    """A running sshd and what a client needs to log in to it."""

    port: int
    user: str
    client_key: Path
    known_hosts: Path
    pid: int

    def connect_options(self) -> dict[str, Any]:
        """asyncssh.connect's options, as an `ssh` profile's ``connect_options``."""
        return {
            "port": self.port,
            "username": self.user,
            "client_keys": [str(self.client_key)],
            "known_hosts": str(self.known_hosts),
        }

    def sessions(self) -> list[psutil.Process]:
        """The processes the server's sessions still run (empty once every client has gone)."""
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def available() -> bool:
    return SSHD.exists() and shutil.which("ssh-keygen") is not None


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@contextmanager
def running_sshd(folder: Path) -> Iterator[SSHServer]:
    """An sshd for the duration of the block, then stopped with its sessions."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    host_public = _keygen(folder / "host_key")
    (folder / "authorized_keys").write_text(_keygen(folder / "client_key") + "\n")
    port, user = free_port(), getpass.getuser()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PermitRootLogin prohibit-password\nAllowUsers {user}\nUsePAM no\nStrictModes no\n"
    )
    if os.geteuid() == 0:  # privilege separation needs it, as the Debian service's RuntimeDirectory makes it
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = folder / "sshd.log"
    subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True)
    daemon = start_daemon([str(SSHD), "-D", "-e", "-f", str(config)], log)
    try:
        wait_until(lambda: "Server listening" in log.read_text(errors="replace"), "sshd", [daemon], [log])
        yield SSHServer(port, user, folder / "client_key", folder / "known_hosts", daemon.pid)
    finally:
        stop_daemon(daemon)
