"""Inputs by reference, only from allowed places.

* paths and ``file://`` URLs: the real path (symlinks resolved) must lie inside a configured data root;
* ``http(s)://``: the host must match ``allowed_hosts`` and every address it connects to must be public
  (loopback, link-local, private and reserved addresses need the host in ``private_hosts``); the check
  runs again on the connected socket, so DNS rebinding gains nothing; redirects are checked hop by hop;
* ``s3://bucket/key``: only buckets matching ``allowed_buckets``, read with the credentials and endpoint
  of the environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``...);
* size and time are bounded.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from wps_server.config import InputPolicy
from wps_server.errors import FileSizeExceeded, InvalidParameterValue

MAX_REDIRECTS = 5
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Reference:
    """A reference that passed the policy: a local file, or a URL still to download."""

    href: str
    path: Path | None = None
    url: str | None = None


def check_reference(href: str, policy: InputPolicy, locator: str) -> Reference:
    """Refuse a reference the policy forbids, before any work is queued for it."""
    parts = urlsplit(href)
    scheme = parts.scheme.lower()
    if scheme in {"", "file"} or (len(scheme) == 1 and href[1:2] == ":"):
        return Reference(href, path=_local_path(href, parts.netloc, parts.path, scheme, policy, locator))
    if scheme in {"http", "https"}:
        host = (parts.hostname or "").lower()
        if not host:
            raise InvalidParameterValue(f"reference {href!r} has no host", locator)
        if not any(fnmatch.fnmatch(host, pattern.lower()) for pattern in policy.allowed_hosts):
            raise InvalidParameterValue(
                f"host {host} is not among the hosts this server may fetch from ([inputs] allowed_hosts)",
                locator,
            )
        if host not in policy.private_hosts:
            for address in _addresses(host, parts.port or (443 if scheme == "https" else 80), locator):
                _refuse_private(address, host, locator)
        return Reference(href, url=href)
    if scheme == "s3":
        bucket = parts.netloc
        if not bucket or not parts.path.strip("/"):
            raise InvalidParameterValue(f"reference {href!r} must be s3://bucket/key", locator)
        if not any(fnmatch.fnmatch(bucket, pattern) for pattern in policy.allowed_buckets):
            raise InvalidParameterValue(
                f"bucket {bucket} is not among the buckets this server may read ([inputs] allowed_buckets)",
                locator,
            )
        return Reference(href, url=href)
    raise InvalidParameterValue(
        f"references by {scheme}:// are not supported; use http(s), s3 or a path", locator
    )


def fetch(
    reference: Reference, policy: InputPolicy, target: Path, locator: str, body: bytes | None = None
) -> Path:
    """Return a local path holding the referenced bytes (local files are used in place)."""
    if reference.path is not None:
        size = reference.path.stat().st_size
        if size > policy.max_reference_size:
            raise FileSizeExceeded(
                f"{reference.href} is {size} bytes, over the limit ([inputs] max_reference_size)", locator
            )
        return reference.path
    assert reference.url is not None
    if reference.url.startswith("s3://"):
        return _fetch_s3(reference.url, policy, target, locator)
    deadline = time.monotonic() + policy.download_timeout
    url = reference.url
    with _guarded_pool(policy, locator) as pool:
        for _ in range(MAX_REDIRECTS + 1):
            response = _request(pool, url, body, policy, locator)
            if response.status in {301, 302, 303, 307, 308} and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                check_reference(url, policy, locator)
                response.release_conn()
                continue
            if response.status >= 400:
                response.release_conn()
                raise InvalidParameterValue(f"{reference.href} answered HTTP {response.status}", locator)
            _stream(response, target, policy, deadline, reference.href, locator)
            return target
    raise InvalidParameterValue(f"{reference.href} redirects more than {MAX_REDIRECTS} times", locator)


def _fetch_s3(url: str, policy: InputPolicy, target: Path, locator: str) -> Path:
    """Download an object with the credentials and endpoint of the environment (AWS_* variables)."""
    import boto3
    import botocore.config
    import botocore.exceptions

    parts = urlsplit(url)
    bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
    config = botocore.config.Config(
        connect_timeout=min(10.0, policy.download_timeout),
        read_timeout=policy.download_timeout,
        retries={"max_attempts": 2},
    )
    # a session of its own: boto3's default session keeps the first credentials it found for good
    client = boto3.session.Session().client("s3", config=config)
    partial = target.with_name(target.name + ".part")
    try:
        size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        if size > policy.max_reference_size:
            raise FileSizeExceeded(
                f"{url} is {size} bytes, over the limit ([inputs] max_reference_size)", locator
            )
        client.download_file(bucket, key, str(partial))
        partial.replace(target)
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        reason = (
            "does not exist" if code in {"404", "NoSuchKey", "NoSuchBucket"} else f"cannot be read ({code})"
        )
        raise InvalidParameterValue(f"{url} {reason}", locator) from None
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        raise InvalidParameterValue(f"cannot fetch {url}: {exc}", locator) from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def _local_path(href: str, netloc: str, path: str, scheme: str, policy: InputPolicy, locator: str) -> Path:
    if scheme == "file":
        if netloc not in {"", "localhost"}:
            raise InvalidParameterValue(f"file references name no host; {href!r} does", locator)
        raw = Path(unquote(path))
    else:
        raw = Path(href)
    candidates = [raw] if raw.is_absolute() else [root / raw for root in policy.data_roots]
    roots = [root.resolve() for root in policy.data_roots]
    for candidate in candidates:
        real = candidate.resolve()
        if any(real.is_relative_to(root) for root in roots):
            if not real.is_file():
                raise InvalidParameterValue(
                    f"reference {href!r} is not a file in the folders of [inputs] data_roots", locator
                )
            return real
    raise InvalidParameterValue(
        f"reference {href!r} is outside the folders this server may read ([inputs] data_roots)", locator
    )


def _addresses(host: str, port: int, locator: str) -> list[str]:
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError):
        raise InvalidParameterValue(f"host {host} cannot be resolved", locator) from None


def _refuse_private(address: str, host: str, locator: str) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise InvalidParameterValue(
            f"host {host} is a loopback, link-local or private address, which references may not reach "
            "unless it is in [inputs] private_hosts",
            locator,
        )


def _guarded_pool(policy: InputPolicy, locator: str) -> urllib3.PoolManager:
    def guard(sock: socket.socket, host: str) -> None:
        if host.lower() not in policy.private_hosts:
            _refuse_private(sock.getpeername()[0], host, locator)

    class GuardedHTTP(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            guard(sock, self.host)
            return sock

    class GuardedHTTPS(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            guard(sock, self.host)
            return sock

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPS

    manager = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=30))
    manager.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}
    return manager


def _request(
    pool: urllib3.PoolManager, url: str, body: bytes | None, policy: InputPolicy, locator: str
) -> Any:
    timeout = urllib3.Timeout(connect=min(10.0, policy.download_timeout), read=policy.download_timeout)
    try:
        return pool.request(
            "POST" if body is not None else "GET",
            url,
            body=body,
            preload_content=False,
            redirect=False,
            timeout=timeout,
        )
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, InvalidParameterValue):
            raise reason from None
        raise InvalidParameterValue(f"cannot fetch {url}: {reason}", locator) from None


def _stream(
    response: Any, target: Path, policy: InputPolicy, deadline: float, href: str, locator: str
) -> None:
    declared = int(response.headers.get("Content-Length") or 0)
    if declared > policy.max_reference_size:
        response.release_conn()
        raise FileSizeExceeded(
            f"{href} is {declared} bytes, over the limit ([inputs] max_reference_size)", locator
        )
    received = 0
    partial = target.with_name(target.name + ".part")
    try:
        with partial.open("wb") as out:
            for chunk in response.stream(_CHUNK):
                received += len(chunk)
                if received > policy.max_reference_size:
                    raise FileSizeExceeded(
                        f"{href} is over the size limit ([inputs] max_reference_size)", locator
                    )
                if time.monotonic() > deadline:
                    raise InvalidParameterValue(f"downloading {href} took longer than allowed", locator)
                out.write(chunk)
        partial.replace(target)
    except urllib3.exceptions.HTTPError as exc:
        raise InvalidParameterValue(f"downloading {href} failed: {exc}", locator) from None
    finally:
        response.release_conn()
        partial.unlink(missing_ok=True)
