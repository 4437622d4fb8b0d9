"""Job storage: where the folders of jobs and their outputs live, a local folder or an S3 object store.

Both back-ends hold the same layout under their root, addressed by ``/``-separated keys::

    jobs/<job id>/...      a job's working folder (S2P's tiles, markers, staged inputs)
    outputs/<job id>/...   the outputs a job returns by reference

:func:`open_storage` chooses the back-end from a URL: a path (or empty: the server's ``data_dir``) is a
:class:`LocalFolder`, whose files every worker must see at the same path; ``s3://bucket/prefix`` is an
:class:`ObjectStore` reached with the endpoint and credentials of the environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``..., as boto3 reads them), which workers
that share no file system with the server use. GDAL reads objects as ``/vsis3/bucket/key``
(:meth:`JobStorage.gdal_path`); :func:`gdal_s3_environment` gives GDAL the same endpoint.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cluster.errors import ClusterError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_PART = re.compile(r"^[A-Za-z0-9._=+-]+$")
_CHUNK = 1 << 20


class StorageError(ClusterError):
    """Job storage that cannot be used, or an operation on it that failed; names the storage and why."""

    def __init__(self, storage: str, reason: str) -> None:
        self.storage = storage
        self.reason = reason
        super().__init__(f"job storage {storage}: {reason}")


def check_storage_url(text: str) -> str:
    """``text`` if it names a storage (empty, an absolute folder, or ``s3://bucket[/prefix]``);
    a ValueError saying what is expected otherwise."""
    value = text.strip()
    if not value or not value.startswith("s3://"):
        if "://" in value:
            raise ValueError(f"{value!r} is neither a folder nor s3://bucket/prefix")
        if value and not Path(value).is_absolute():
            raise ValueError(f"{value!r} must be an absolute folder or s3://bucket/prefix")
        return value
    parts = urlsplit(value)
    if not _BUCKET.match(parts.netloc):
        raise ValueError(f"{value!r}: {parts.netloc!r} is not a bucket name (3 to 63 of a-z 0-9 . -)")
    prefix = parts.path.strip("/")
    segments = prefix.split("/") if prefix else []
    if parts.query or parts.fragment or any(not _KEY_PART.match(p) or p in {".", ".."} for p in segments):
        raise ValueError(f"{value!r}: the prefix may hold letters, digits and . _ = + - between slashes")
    return value


def open_storage(url: str, default_root: Path) -> JobStorage:
    """The storage named by ``url`` (see :func:`check_storage_url`); empty means ``default_root``."""
    value = check_storage_url(url)
    if not value:
        return LocalFolder(default_root)
    if value.startswith("s3://"):
        parts = urlsplit(value)
        return ObjectStore(parts.netloc, parts.path.strip("/"))
    return LocalFolder(Path(value))


def _clean_key(key: str) -> str:
    parts = [p for p in key.split("/") if p]
    if not parts or any(p in {".", ".."} for p in parts):
        raise ValueError(f"not a storage key: {key!r}")
    return "/".join(parts)


class JobStorage(ABC):
    """Files addressed by keys relative to the storage's root; every method raises :class:`StorageError`
    when the storage fails (never a library's own exception)."""

    #: The storage as configured (a folder or s3://bucket/prefix), safe to show: it holds no secret.
    url: str
    #: True when workers read and write the server's files in place (a folder they all mount).
    shared_paths: bool

    def child(self, prefix: str) -> JobStorage:
        """The same storage rooted at ``prefix`` (e.g. one job's folder)."""
        raise NotImplementedError

    @abstractmethod
    def check(self) -> None:
        """Make sure the storage answers and accepts a write and a delete; StorageError otherwise."""

    @abstractmethod
    def put_file(self, source: Path, key: str) -> int:
        """Store a local file under ``key`` whole (readers never see part of it); returns its size."""

    @abstractmethod
    def put_bytes(self, data: bytes, key: str) -> None:
        """Store ``data`` under ``key`` whole."""

    @abstractmethod
    def get_file(self, key: str, target: Path) -> int:
        """Copy ``key`` to ``target`` (written under a temporary name first); returns its size."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes | None:
        """The content of ``key``; None if there is no such key."""

    @abstractmethod
    def stream(self, key: str) -> tuple[int, Iterator[bytes]] | None:
        """Size and chunks of ``key`` (for serving it); None if there is no such key."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """Bytes of ``key``; None if there is no such key."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder-like prefix ending in ``/``), relative to the root."""

    @abstractmethod
    def delete(self, prefix: str) -> int:
        """Remove every key under ``prefix`` (``jobs/<id>/``); returns how many were removed."""

    @abstractmethod
    def gdal_path(self, key: str) -> str:
        """The name under which GDAL (and so S2P) opens ``key``."""

    def signed_url(self, key: str, expires_seconds: int) -> str | None:
        """A link anyone holding it may download ``key`` with, valid ``expires_seconds``; None when
        this storage has no such links (a folder: its files are served by the server)."""
        return None


class LocalFolder(JobStorage):
    """A folder; workers must see it at the same path (the default: the server's ``data_dir``)."""

    shared_paths = True

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.url = str(self.root)

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        return self.root / _clean_key(key)

    def child(self, prefix: str) -> LocalFolder:
        return LocalFolder(self.path(prefix))

    def check(self) -> None:
        """A folder not made yet passes when it can be made (nothing is created before it is needed)."""
        existing = self.root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise StorageError(self.url, f"cannot write there ({existing} is not a folder)")
        if existing != self.root:
            if not os.access(existing, os.W_OK | os.X_OK):
                raise StorageError(self.url, f"cannot write there ({existing} is not writable)")
            return
        probe = self.root / f".probe-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(self.url, f"cannot write there ({exc.strerror or exc})") from None

    def _put(self, key: str, write: Any) -> Path:
        target = self.path(key)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write(partial)
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(self.url, f"cannot write {key} ({exc.strerror or exc})") from None
        return target

    def put_file(self, source: Path, key: str) -> int:
        return self._put(key, lambda p: shutil.copyfile(source, p)).stat().st_size

    def put_bytes(self, data: bytes, key: str) -> None:
        self._put(key, lambda p: p.write_bytes(data))

    def get_file(self, key: str, target: Path) -> int:
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.path(key), partial)
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(self.url, f"cannot read {key} ({exc.strerror or exc})") from None
        return target.stat().st_size

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(self.url, f"cannot read {key} ({exc.strerror or exc})") from None

    def stream(self, key: str) -> tuple[int, Iterator[bytes]] | None:
        path = self.path(key)
        if not path.is_file():
            return None

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    yield chunk

        return path.stat().st_size, chunks()

    def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def keys(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def delete(self, prefix: str) -> int:
        base = self.path(prefix)
        if not base.exists():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file()) if base.is_dir() else 1
        if base.is_dir():
            shutil.rmtree(base, ignore_errors=True)
        else:
            base.unlink(missing_ok=True)
        return count

    def gdal_path(self, key: str) -> str:
        return str(self.path(key))


#: What boto3 reads from the environment to reach S3: a client is made again when one changes.
_S3_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
)


def _s3_client() -> Any:
    """A boto3 client for the environment's endpoint and credentials, one per process and environment
    (clients are thread-safe)."""
    return _client_for(tuple(os.environ.get(name, "") for name in _S3_ENVIRONMENT))


@functools.lru_cache(maxsize=4)
def _client_for(environment: tuple[str, ...]) -> Any:
    import boto3
    import botocore.config

    endpoint = environment[1] or environment[0]
    config = botocore.config.Config(
        connect_timeout=10,
        read_timeout=120,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=16,
        # S3-compatible servers (MinIO, Ceph, OVH...) are addressed by path; AWS itself by host
        s3={"addressing_style": "path" if endpoint else "auto"},
        # pre-signed links with SigV4 (an expiry in seconds, up to 7 days), as every region accepts
        signature_version="s3v4",
        # boto3 1.36 on adds CRC checksums to every upload and checks them on downloads by default,
        # which several S3-compatible stores refuse (Ceph's radosgw, Hetzner, GCS interoperability):
        # only where the operation requires one, as before
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", config=config)


def _reason(exc: BaseException) -> str:
    """What went wrong, in words, without secrets (boto3's messages carry none)."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken"}:
            return f"the credentials were refused ({code})"
        if code in {"NoSuchBucket"}:
            return "the bucket does not exist"
        return f"{code}: {error.get('Message', '')}".strip(": ")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile)"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
        return f"the endpoint does not answer ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _missing(exc: BaseException) -> bool:
    import botocore.exceptions

    return isinstance(exc, botocore.exceptions.ClientError) and str(
        exc.response.get("Error", {}).get("Code", "")
    ) in {"404", "NoSuchKey", "NotFound"}


#: What stores without multi-object delete answer to one (``POST ?delete``): GCS's XML API says
#: NotImplemented (some of its front ends InvalidArgument), other stores 501 or 405.
_NO_BATCH_DELETE = {"NotImplemented", "501", "InvalidArgument", "MethodNotAllowed", "405"}


def _no_batch_delete(exc: BaseException) -> bool:
    import botocore.exceptions

    return isinstance(exc, botocore.exceptions.ClientError) and (
        str(exc.response.get("Error", {}).get("Code", "")) in _NO_BATCH_DELETE
        or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in {501, 405}
    )


class ObjectStore(JobStorage):
    """An S3 bucket and prefix, through boto3 with the environment's endpoint and credentials."""

    shared_paths = False

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        clean = _clean_key(key)
        return f"{self.prefix}/{clean}" if self.prefix else clean

    def child(self, prefix: str) -> ObjectStore:
        return ObjectStore(self.bucket, self._key(prefix))

    def _fail(self, what: str, exc: BaseException) -> StorageError:
        return StorageError(self.url, f"{what}: {_reason(exc)}")

    def check(self) -> None:
        client = _s3_client()
        probe = self._key(f".probe-{uuid.uuid4().hex}")
        try:  # a listing, not a HEAD: its errors come with their codes
            client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/", MaxKeys=1)
        except Exception as exc:
            raise self._fail("cannot list the bucket", exc) from None
        try:
            client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            client.delete_object(Bucket=self.bucket, Key=probe)
        except Exception as exc:
            raise self._fail("cannot write there", exc) from None

    def put_file(self, source: Path, key: str) -> int:
        name = self._key(key)
        try:
            _s3_client().upload_file(str(source), self.bucket, name)
        except Exception as exc:
            raise self._fail(f"cannot write {key}", exc) from None
        return source.stat().st_size

    def put_bytes(self, data: bytes, key: str) -> None:
        name = self._key(key)
        try:
            _s3_client().put_object(Bucket=self.bucket, Key=name, Body=data)
        except Exception as exc:
            raise self._fail(f"cannot write {key}", exc) from None

    def get_file(self, key: str, target: Path) -> int:
        name = self._key(key)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _s3_client().download_file(self.bucket, name, str(partial))
            partial.replace(target)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            raise self._fail(f"cannot read {key}", exc) from None
        return target.stat().st_size

    def read_bytes(self, key: str) -> bytes | None:
        name = self._key(key)
        try:
            body: bytes = _s3_client().get_object(Bucket=self.bucket, Key=name)["Body"].read()
        except Exception as exc:
            if _missing(exc):
                return None
            raise self._fail(f"cannot read {key}", exc) from None
        return body

    def stream(self, key: str) -> tuple[int, Iterator[bytes]] | None:
        name = self._key(key)
        try:
            answer = _s3_client().get_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            if _missing(exc):
                return None
            raise self._fail(f"cannot read {key}", exc) from None
        body = answer["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(_CHUNK)
            finally:
                body.close()

        return int(answer["ContentLength"]), chunks()

    def size(self, key: str) -> int | None:
        name = self._key(key)
        try:
            return int(_s3_client().head_object(Bucket=self.bucket, Key=name)["ContentLength"])
        except Exception as exc:
            if _missing(exc):
                return None
            raise self._fail(f"cannot read {key}", exc) from None

    def _list(self, prefix: str) -> Iterator[str]:
        base = self._key(prefix) + "/"  # checked now, before the listing starts

        def pages() -> Iterator[str]:
            paginator = _s3_client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for item in page.get("Contents", []):
                    yield str(item["Key"])

        return pages()

    def keys(self, prefix: str) -> list[str]:
        start = len(self.prefix) + 1 if self.prefix else 0
        listed = self._list(prefix)
        try:
            return sorted(key[start:] for key in listed)
        except Exception as exc:
            raise self._fail(f"cannot list {prefix}", exc) from None

    def delete(self, prefix: str) -> int:
        client, removed = _s3_client(), 0
        listed = self._list(prefix)
        try:
            batch: list[str] = []
            for key in listed:
                batch.append(key)
                if len(batch) == 1000:
                    removed += self._delete_batch(client, batch)
                    batch = []
            if batch:
                removed += self._delete_batch(client, batch)
        except StorageError:
            raise
        except Exception as exc:
            raise self._fail(f"cannot delete {prefix}", exc) from None
        return removed

    def _delete_batch(self, client: Any, keys: list[str]) -> int:
        try:
            answer = client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        except Exception as exc:
            if not _no_batch_delete(exc):
                raise
            # a store without multi-object delete (GCS's XML API): one request per object
            for key in keys:
                try:
                    client.delete_object(Bucket=self.bucket, Key=key)
                except Exception as one:
                    if not _missing(one):  # gone meanwhile (GCS answers 404 where S3 answers 204)
                        raise
            return len(keys)
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise StorageError(self.url, f"cannot delete {first.get('Key')}: {first.get('Code')}")
        return len(keys)

    def gdal_path(self, key: str) -> str:
        return f"/vsis3/{self.bucket}/{self._key(key)}"

    def signed_url(self, key: str, expires_seconds: int) -> str | None:
        """A pre-signed GET on the store's endpoint (signed locally: no request is made)."""
        try:
            return str(
                _s3_client().generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": self._key(key)},
                    ExpiresIn=expires_seconds,
                )
            )
        except Exception as exc:  # botocore's errors (no credentials...) say why
            raise self._fail(f"cannot sign a link to {key}", exc) from None


def gdal_s3_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """GDAL's settings for the S3 endpoint boto3 uses (``AWS_ENDPOINT_URL``): GDAL names it
    ``AWS_S3_ENDPOINT`` (host and port), with ``AWS_HTTPS`` and path-style addressing, and reads the
    region from ``AWS_REGION``. Empty when no endpoint is set (AWS itself needs nothing more)."""
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    settings = {
        # GDAL would otherwise list the prefix of every file it opens, looking for side-car files
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    }
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        settings["AWS_REGION"] = region
    if endpoint:
        parts = urlsplit(endpoint)
        settings["AWS_S3_ENDPOINT"] = parts.netloc + parts.path.rstrip("/")
        settings["AWS_HTTPS"] = "YES" if parts.scheme == "https" else "NO"
        settings["AWS_VIRTUAL_HOSTING"] = "FALSE"
    return settings


_gdal_ready = threading.Lock()


def export_gdal_s3_environment() -> None:
    """Give this process's GDAL (rasterio's, and the GDAL tools S2P runs as child processes) the S3
    endpoint of the environment, once; variables already set are left as they are."""
    with _gdal_ready:
        for name, value in gdal_s3_environment(os.environ).items():
            os.environ.setdefault(name, value)
