"""A real S3 endpoint on loopback for the tests: moto's server mode, in a process of its own, with IAM
authentication on (a wrong secret is refused with SignatureDoesNotMatch, a revoked key with
InvalidAccessKeyId), so that credentials are checked as a real object store checks them.

No S3 server installs from Debian's or PyPI's registries here: Debian has no MinIO, its Ceph radosgw
needs a running Ceph cluster (monitors and OSDs), and the S3 servers on PyPI are small projects that
implement less of S3 than moto does. moto answers S3 and IAM over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3

from tests.e2e.server import free_port

REGION = "us-east-1"
#: moto lets this many requests through unauthenticated: the administrator's user, policy and key.
_BOOTSTRAP_ACTIONS = 3


@dataclass(frozen=True)
class Credentials:
    user: str
    key_id: str
    secret: str


class S3Server:
    """``python -m moto.server`` on a free port of 127.0.0.1; ``admin`` may do anything."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = Credentials("", "", "")

    def start(self, timeout: float = 60) -> S3Server:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_BOOTSTRAP_ACTIONS)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:  # a TCP connection, not a request: requests count against the bootstrap allowance
            if self.process.poll() is not None:
                raise RuntimeError("moto's server exited at start-up")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        iam = self._client("iam", "bootstrap", "bootstrap")
        iam.create_user(UserName="wps-admin")
        iam.put_user_policy(UserName="wps-admin", PolicyName="all", PolicyDocument=_policy(["*"], ["*"]))
        key = iam.create_access_key(UserName="wps-admin")["AccessKey"]
        self.admin = Credentials("wps-admin", key["AccessKeyId"], key["SecretAccessKey"])
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)

    def env(self, credentials: Credentials | None = None) -> dict[str, str]:
        """The environment a process needs to reach this endpoint (admin credentials by default)."""
        who = credentials or self.admin
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": who.key_id,
            "AWS_SECRET_ACCESS_KEY": who.secret,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def _client(self, service: str, key_id: str, secret: str) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            region_name=REGION,
        )

    def s3(self, credentials: Credentials | None = None) -> Any:
        who = credentials or self.admin
        return self._client("s3", who.key_id, who.secret)

    def bucket(self, prefix: str = "jobs") -> str:
        """A new empty bucket."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.s3().create_bucket(Bucket=name)
        return name

    def user(self, name: str, actions: list[str], resources: list[str]) -> Credentials:
        """A user allowed ``actions`` on ``resources`` only, and a key of its own."""
        iam = self._client("iam", self.admin.key_id, self.admin.secret)
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=_policy(actions, resources))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(name, key["AccessKeyId"], key["SecretAccessKey"])

    def revoke(self, credentials: Credentials) -> None:
        """Delete a key: requests signed with it are refused from now on."""
        iam = self._client("iam", self.admin.key_id, self.admin.secret)
        iam.delete_access_key(UserName=credentials.user, AccessKeyId=credentials.key_id)

    def objects(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key of ``bucket`` under ``prefix``."""
        pages = self.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@dataclass(frozen=True)
class Forwarded:
    """One request that went through a :class:`NoBatchDeleteProxy`, and the status it got."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int


#: What GCS's XML API answers to a multi-object delete (its wording).
_NOT_IMPLEMENTED = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NotImplemented</Code><Message>A header or query "
    b"you provided requested a function that is not implemented.</Message><Details>POST ?delete is not "
    b"implemented for objects.</Details></Error>"
)
#: Headers of one hop only: not forwarded (``Expect`` is not part of an S3 request's signature).
_HOP = {"connection", "keep-alive", "expect", "transfer-encoding", "content-length"}


class NoBatchDeleteProxy:
    """An HTTP server on 127.0.0.1 in front of an S3 endpoint, which forwards every request as it came
    (its Host header too, so signatures still match) except multi-object deletes (``POST ?delete``),
    answered 501 NotImplemented as by a store that has none (GCS's XML API). ``requests`` records
    what went through."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.requests: list[Forwarded] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                length: str | None = None
                if self.command == "POST" and "delete" in query:
                    status, answer, reply = 501, [("Content-Type", "application/xml")], _NOT_IMPLEMENTED
                else:
                    connection = http.client.HTTPConnection(proxy.upstream, timeout=60)
                    try:
                        connection.request(self.command, self.path, body=body, headers=headers)
                        response = connection.getresponse()
                        status, reply = response.status, response.read()
                        answer = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP]
                        length = response.getheader("Content-Length")
                    finally:
                        connection.close()
                proxy.requests.append(Forwarded(self.command, parts.path, query, dict(headers), status))
                self.send_response(status)
                for name, value in answer:
                    self.send_header(name, value)
                # a HEAD answer tells the object's length, with no body
                self.send_header("Content-Length", str(length if self.command == "HEAD" else len(reply)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NoBatchDeleteProxy:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


def _policy(actions: list[str], resources: list[str]) -> str:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
