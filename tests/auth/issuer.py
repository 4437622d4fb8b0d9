"""A real OpenID Connect key publisher for tests: an RSA key pair made with cryptography, its public
half served as a JWKS over HTTP on 127.0.0.1, and tokens signed with it (or deliberately not)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://login.example.test/realms/space"
AUDIENCE = "space-wps"


class Issuer:
    """Signs tokens with ``kid`` "k1" and publishes that key at ``jwks_url`` while started."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        self.requests = 0
        jwks = json.dumps(self.jwks).encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks if self.path == "/jwks" else b"{}")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def start(self) -> Issuer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def claims(self, sub: str, roles: Any = (), **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "realm_access": {"roles": list(roles) if isinstance(roles, list | tuple) else roles},
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, sub: str, roles: Any = (), *, kid: str = "k1", key: Any = None, **changes: Any) -> str:
        return jwt.encode(
            self.claims(sub, roles, **changes), key or self.key, algorithm="RS256", headers={"kid": kid}
        )

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
