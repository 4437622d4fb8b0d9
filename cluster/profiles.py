"""Cluster profiles: what kind of Dask cluster a job runs on, how big it may get and what it costs.

Profiles are read from a YAML file (``clusters.yaml``; see ``clusters.example.yaml``)::

    default: local
    profiles:
      local: {kind: local, max_workers: 2}
      aws: {kind: ec2, options: {region: eu-west-1, instance_type: c6i.xlarge}, ...}

Everything is validated at load time: a bad profile raises :class:`ProfileConfigError` naming the
profile and the field. ``${ENV_VAR}`` in a string value is replaced by the variable (an unset or empty
variable is an error); ``$${`` writes a literal ``${``. The upstream cluster classes are imported
lazily, only when a profile of that kind is built.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from cluster.errors import ProfileConfigError, UnknownProfileError
from cluster.secrets import SECRET_KEY_RE, check_literal_secrets, substitute
from cluster.storage import check_storage_url
from cluster.upstream import BATCH_KINDS, CLOUD_VM_KINDS, KINDS, UPSTREAM

PriceUnit = Literal["worker-hour", "core-hour"]


#: kinds whose clusters are shared between jobs unless the profile says otherwise.
_SHARED_BY_DEFAULT: Final = frozenset({"local", "scheduler"})

#: seconds from asking for a worker to it being usable: an assumption, overridable per profile.
_DEFAULT_STARTUP_S: Final[Mapping[str, float]] = {
    "local": 2.0,
    "scheduler": 0.0,
    "ssh": 10.0,
    "kubernetes": 60.0,
    "pbs": 60.0,
    "slurm": 60.0,
    **dict.fromkeys(CLOUD_VM_KINDS, 180.0),
}

#: seconds a per-job cluster may take to answer with a first worker before the job fails (a deadline,
#: overridable per profile with ``start_timeout_seconds``): batch queues may hold jobs for long.
_DEFAULT_START_TIMEOUT_S: Final[Mapping[str, float]] = {
    "local": 120.0,
    "scheduler": 60.0,
    "ssh": 300.0,
    "kubernetes": 900.0,
    "pbs": 3600.0,
    "slurm": 3600.0,
    **dict.fromkeys(CLOUD_VM_KINDS, 900.0),
}

#: where ``worker_threads`` goes in the upstream kwargs (dotted path); absent: informational only.
_THREADS_OPTION: Final[Mapping[str, str]] = {
    "local": "threads_per_worker",
    "ssh": "worker_options.nthreads",
    "ec2": "worker_options.nthreads",
    "azure": "worker_options.nthreads",
    "gcp": "worker_options.nthreads",
    "hetzner": "worker_options.nthreads",
    "openstack": "worker_threads",
    "pbs": "cores",
    "slurm": "cores",
}

#: options the sizing or the lifecycle sets; a profile must not.
_RESERVED_OPTIONS: Final[Mapping[str, frozenset[str]]] = {
    "local": frozenset({"n_workers", "asynchronous"}),
    "scheduler": frozenset(),
    "ssh": frozenset({"asynchronous"}),
    "kubernetes": frozenset({"n_workers", "name", "asynchronous"}),
    "pbs": frozenset({"n_workers", "job_name", "asynchronous"}),
    "slurm": frozenset({"n_workers", "job_name", "asynchronous"}),
    **dict.fromkeys(CLOUD_VM_KINDS, frozenset({"n_workers", "asynchronous"})),
}

_PROFILE_FIELDS: Final = frozenset(
    {
        "kind",
        "description",
        "options",
        "dask_config",
        "min_workers",
        "max_workers",
        "worker_threads",
        "instance_type",
        "price",
        "billing",
        "shared",
        "startup_seconds",
        "start_timeout_seconds",
        "relative_speed",
        "storage",
        "roles",
    }
)
_PRICE_FIELDS: Final = frozenset({"amount", "currency", "per", "as_of", "source", "scheduler_amount"})
_BILLING_FIELDS: Final = frozenset({"granularity_seconds", "minimum_seconds"})
_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Price:
    """A list price, per worker-hour or per core-hour, in ``currency``, as read on ``as_of``.

    ``scheduler_amount`` is the hourly price of a separate scheduler machine (cloud VM kinds start one),
    billed for the whole life of the cluster.
    """

    amount: float
    currency: str
    per: PriceUnit
    as_of: dt.date
    source: str = ""
    scheduler_amount: float = 0.0


@dataclass(frozen=True)
class Billing:
    """How a provider rounds a machine's time: up to ``granularity_s``, never under ``minimum_s``."""

    granularity_s: int = 1
    minimum_s: int = 0

    def billed_seconds(self, seconds: float) -> int:
        """Seconds billed for one machine that ran ``seconds``."""
        if seconds <= 0:
            return 0
        # a tiny tolerance keeps float noise (3600.0000001 s) from costing a whole extra unit
        units = math.ceil(seconds / self.granularity_s - 1e-9)
        return max(self.minimum_s, units * self.granularity_s)


@dataclass(frozen=True)
class ClusterProfile:
    """One validated profile. ``options`` and ``dask_config`` hold resolved secrets: never log them."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(repr=False)
    dask_config: Mapping[str, Any] = field(repr=False)
    min_workers: int
    max_workers: int
    worker_threads: int
    instance_type: str | None
    price: Price | None
    billing: Billing
    shared: bool
    startup_seconds: float
    relative_speed: float
    description: str = ""
    #: a per-job cluster with no worker after this many seconds fails the job (and is torn down).
    start_timeout_seconds: float = 900.0
    #: Where the workers of this profile find their jobs' folders (a folder they mount, or
    #: s3://bucket/prefix); None: the server's ``[jobs] storage``.
    storage: str | None = None
    #: roles of which a user needs one to run jobs on this profile; empty: every user who may run the job
    roles: tuple[str, ...] = ()

    @property
    def worker_hour_price(self) -> float:
        """Price of one worker for one hour (0 when the profile has no price)."""
        if self.price is None:
            return 0.0
        factor = self.worker_threads if self.price.per == "core-hour" else 1
        return self.price.amount * factor

    @property
    def currency(self) -> str | None:
        return None if self.price is None else self.price.currency

    def public(self) -> dict[str, Any]:
        """A JSON-ready description without options or secrets (for capabilities pages and logs)."""
        price = None
        if self.price is not None:
            price = {
                "amount": self.price.amount,
                "currency": self.price.currency,
                "per": self.price.per,
                "as_of": self.price.as_of.isoformat(),
                "source": self.price.source,
                "scheduler_amount": self.price.scheduler_amount,
                "worker_hour": self.worker_hour_price,
            }
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "min_workers": self.min_workers,
            "max_workers": self.max_workers,
            "worker_threads": self.worker_threads,
            "instance_type": self.instance_type,
            "shared": self.shared,
            "start_timeout_seconds": self.start_timeout_seconds,
            "price": price,
            "billing": {"granularity_s": self.billing.granularity_s, "minimum_s": self.billing.minimum_s},
        }


@dataclass(frozen=True)
class ProfileRegistry:
    """The profiles of one configuration, and the one used when a job names none."""

    profiles: Mapping[str, ClusterProfile]
    default: str
    source: Path | None = None

    def get(self, name: str | None = None) -> ClusterProfile:
        """The profile called ``name`` (the default one for ``None``)."""
        key = self.default if name is None else name
        try:
            return self.profiles[key]
        except KeyError:
            raise UnknownProfileError(key, sorted(self.profiles)) from None

    def names(self) -> list[str]:
        return sorted(self.profiles)

    def __iter__(self) -> Iterator[ClusterProfile]:
        return iter(self.profiles.values())

    def __len__(self) -> int:
        return len(self.profiles)


def default_profile() -> ClusterProfile:
    """The profile used when no configuration file exists: a shared LocalCluster on this machine."""
    cpus = os.cpu_count() or 1
    return ClusterProfile(
        name="local",
        kind="local",
        options={"processes": True, "threads_per_worker": 1},
        dask_config={},
        min_workers=0,
        max_workers=cpus,
        worker_threads=1,
        instance_type=None,
        price=None,
        billing=Billing(),
        shared=True,
        startup_seconds=_DEFAULT_STARTUP_S["local"],
        relative_speed=1.0,
        description="this machine (default: no clusters file)",
        start_timeout_seconds=_DEFAULT_START_TIMEOUT_S["local"],
    )


def default_registry() -> ProfileRegistry:
    """A registry holding only :func:`default_profile`."""
    return ProfileRegistry(profiles={"local": default_profile()}, default="local", source=None)


def load_profiles(
    path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    missing_ok: bool = False,
    today: dt.date | None = None,
) -> ProfileRegistry:
    """Read and validate a clusters file.

    ``path=None``, or a missing file with ``missing_ok=True``, gives :func:`default_registry`. ``env``
    (default ``os.environ``) resolves ``${VAR}``; ``today`` bounds price dates (default: today).
    """
    if path is None:
        return default_registry()
    file = Path(path)
    if not file.exists():
        if missing_ok:
            return default_registry()
        raise ProfileConfigError("<file>", "", f"clusters file {file} does not exist")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileConfigError("<file>", "", f"{file} is not valid YAML: {exc}") from exc
    return parse_registry(raw, env=os.environ if env is None else env, source=file, today=today)


def parse_registry(
    raw: object,
    *,
    env: Mapping[str, str],
    source: Path | None = None,
    today: dt.date | None = None,
) -> ProfileRegistry:
    """Validate the parsed content of a clusters file (see :func:`load_profiles`)."""
    if not isinstance(raw, Mapping):
        raise ProfileConfigError("<file>", "", "the file must be a mapping with a 'profiles' key")
    unknown = set(raw) - {"version", "default", "profiles"}
    if unknown:
        raise ProfileConfigError("<file>", sorted(map(str, unknown))[0], "unknown top-level key")
    if raw.get("version", 1) != 1:
        raise ProfileConfigError("<file>", "version", f"unsupported version {raw.get('version')!r}")
    entries = raw.get("profiles")
    if not isinstance(entries, Mapping) or not entries:
        raise ProfileConfigError("<file>", "profiles", "must be a non-empty mapping of name -> profile")
    profiles: dict[str, ClusterProfile] = {}
    for name, body in entries.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ProfileConfigError(str(name), "", "profile names are lowercase letters, digits, '-', '_'")
        profiles[name] = parse_profile(name, body, env=env, today=today)
    default = raw.get("default")
    if default is None:
        default = "local" if "local" in profiles else next(iter(profiles))
    if default not in profiles:
        raise ProfileConfigError("<file>", "default", f"{default!r} is not one of {sorted(profiles)}")
    return ProfileRegistry(profiles=profiles, default=str(default), source=source)


def parse_profile(
    name: str, body: object, *, env: Mapping[str, str], today: dt.date | None = None
) -> ClusterProfile:
    """Validate one profile body; raise :class:`ProfileConfigError` on the first problem."""
    if not isinstance(body, Mapping):
        raise ProfileConfigError(name, "", "a profile must be a mapping")
    for key in body:
        if key not in _PROFILE_FIELDS:
            raise ProfileConfigError(
                name, str(key), f"unknown field; allowed: {', '.join(sorted(_PROFILE_FIELDS))}"
            )
    kind = body.get("kind", "local")
    if kind not in UPSTREAM:
        raise ProfileConfigError(name, "kind", f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")

    options = _mapping(name, "options", body.get("options", {}))
    dask_config = _mapping(name, "dask_config", body.get("dask_config", {}))
    if kind in CLOUD_VM_KINDS:
        for key in options:
            if SECRET_KEY_RE.search(str(key)):
                raise ProfileConfigError(
                    name,
                    f"options.{key}",
                    f"provider credentials go through dask config, e.g. dask_config: "
                    f"{{cloudprovider.{kind}.{key}: '${{ENV_VAR}}'}}, or the provider's own "
                    "environment variables",
                )
    check_literal_secrets(name, "options", options)
    check_literal_secrets(name, "dask_config", dask_config)
    options = substitute(name, "options", options, env)
    dask_config = substitute(name, "dask_config", dask_config, env)
    for key in dask_config:
        if not isinstance(key, str) or not key:
            raise ProfileConfigError(name, "dask_config", "keys are dotted dask config names")
    reserved = sorted(set(options) & _RESERVED_OPTIONS[kind])
    if reserved:
        raise ProfileConfigError(
            name, f"options.{reserved[0]}", "set by the cluster lifecycle (sizing, job id); remove it"
        )
    min_workers = _int(name, "min_workers", body.get("min_workers", 0), minimum=0)
    max_workers = _int(name, "max_workers", body.get("max_workers", 1), minimum=1)
    if min_workers > max_workers:
        raise ProfileConfigError(
            name, "min_workers", f"{min_workers} is larger than max_workers {max_workers}"
        )
    shared = body.get("shared", kind in _SHARED_BY_DEFAULT)
    if not isinstance(shared, bool):
        raise ProfileConfigError(name, "shared", "must be true or false")
    if kind == "scheduler" and not shared:
        raise ProfileConfigError(name, "shared", "a 'scheduler' profile is an existing, shared cluster")

    options, worker_threads = _place_threads(name, kind, dict(options), body.get("worker_threads"))
    _check_kind_options(name, kind, options, max_workers)

    price = _price(name, body.get("price"), today or dt.date.today())
    if price is None and not shared:
        raise ProfileConfigError(name, "price", "per-job profiles need a price (amount, currency, as_of)")
    billing = _billing(name, body.get("billing", {}))
    startup = _number(
        name, "startup_seconds", body.get("startup_seconds", _DEFAULT_STARTUP_S[kind]), minimum=0
    )
    start_timeout = _number(
        name,
        "start_timeout_seconds",
        body.get("start_timeout_seconds", _DEFAULT_START_TIMEOUT_S[kind]),
        minimum=1,
    )
    speed = _number(name, "relative_speed", body.get("relative_speed", 1.0), minimum=0)
    if speed == 0:
        raise ProfileConfigError(name, "relative_speed", "must be > 0 (1.0 = the calibration machine)")
    instance_type = body.get("instance_type")
    if instance_type is not None and not isinstance(instance_type, str):
        raise ProfileConfigError(name, "instance_type", "must be a string")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise ProfileConfigError(name, "description", "must be a string")
    storage = body.get("storage")
    if storage is not None:
        if not isinstance(storage, str) or not storage.strip():
            raise ProfileConfigError(name, "storage", "an absolute folder or s3://bucket/prefix")
        try:
            storage = check_storage_url(substitute(name, "storage", storage, env))
        except ValueError as exc:
            raise ProfileConfigError(name, "storage", str(exc)) from None
    roles = body.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) and r.strip() for r in roles):
        raise ProfileConfigError(name, "roles", "a list of role names, e.g. [s2p-cloud]")
    return ClusterProfile(
        name=name,
        kind=kind,
        roles=tuple(r.strip() for r in roles),
        options=options,
        dask_config=dict(dask_config),
        min_workers=min_workers,
        max_workers=max_workers,
        worker_threads=worker_threads,
        instance_type=instance_type,
        price=price,
        billing=billing,
        shared=shared,
        startup_seconds=startup,
        relative_speed=speed,
        description=description,
        start_timeout_seconds=start_timeout,
        storage=storage,
    )


# --------------------------------------------------------------------------- validation helpers


def _mapping(profile: str, where: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProfileConfigError(profile, where, "must be a mapping")
    return {str(k): v for k, v in value.items()}


def _int(profile: str, where: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProfileConfigError(profile, where, f"must be an integer, got {value!r}")
    if value < minimum:
        raise ProfileConfigError(profile, where, f"must be >= {minimum}, got {value}")
    return value


def _number(profile: str, where: str, value: object, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileConfigError(profile, where, f"must be a number, got {value!r}")
    if value < minimum:
        raise ProfileConfigError(profile, where, f"must be >= {minimum}, got {value}")
    return float(value)


def _get_path(options: Mapping[str, Any], dotted: str) -> Any:
    node: Any = options
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set_path(options: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = options
    for part in parts[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, Mapping) else {}
        node[part] = child
        node = child
    node[parts[-1]] = value


def _place_threads(
    profile: str, kind: str, options: dict[str, Any], declared: object
) -> tuple[dict[str, Any], int]:
    """Reconcile ``worker_threads`` with the upstream option that sets it; return both."""
    path = _THREADS_OPTION.get(kind)
    in_options = None if path is None else _get_path(options, path)
    threads = None if declared is None else _int(profile, "worker_threads", declared, minimum=1)
    if in_options is not None:
        upstream = _int(profile, f"options.{path}", in_options, minimum=1)
        if threads is not None and threads != upstream:
            raise ProfileConfigError(
                profile, "worker_threads", f"{threads} disagrees with options.{path} = {upstream}; keep one"
            )
        threads = upstream
    if threads is None:
        if kind in BATCH_KINDS:
            raise ProfileConfigError(profile, "options.cores", "batch profiles need the cores of one job")
        threads = 1
    if path is not None and in_options is None:
        _set_path(options, path, threads)
    if kind in BATCH_KINDS:
        processes = options.setdefault("processes", 1)
        if processes != 1:
            raise ProfileConfigError(
                profile,
                "options.processes",
                "use 1: one Dask worker per batch job keeps sizing and cost per job",
            )
    return options, threads


def _check_kind_options(profile: str, kind: str, options: Mapping[str, Any], max_workers: int) -> None:
    if kind == "scheduler":
        address = options.get("address")
        if not isinstance(address, str) or "://" not in address:
            raise ProfileConfigError(
                profile, "options.address", "needs the scheduler address, e.g. tcp://host:8786"
            )
        extra = set(options) - {"address", "timeout"}
        if extra:
            raise ProfileConfigError(
                profile, f"options.{sorted(extra)[0]}", "only address and timeout are allowed"
            )
    elif kind == "ssh":
        hosts = options.get("hosts")
        if not isinstance(hosts, list) or len(hosts) < 2 or not all(isinstance(h, str) for h in hosts):
            raise ProfileConfigError(
                profile, "options.hosts", "a list: the scheduler host, then worker hosts"
            )
        if max_workers > len(hosts) - 1:
            raise ProfileConfigError(
                profile, "max_workers", f"{max_workers} is more than the {len(hosts) - 1} worker hosts listed"
            )
    elif kind in BATCH_KINDS:
        if not isinstance(options.get("memory"), str):
            raise ProfileConfigError(
                profile, "options.memory", "batch profiles need the memory of one job, e.g. 8GiB"
            )
    elif kind == "ec2":
        groups = options.get("security_groups")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, str) for g in groups):
            raise ProfileConfigError(
                profile,
                "options.security_groups",
                "name the security group ids the instances get, e.g. [sg-0123...]: dask-cloudprovider "
                "cannot create its default group",
            )
    elif kind == "kubernetes" and "namespace" in options and not isinstance(options["namespace"], str):
        raise ProfileConfigError(profile, "options.namespace", "must be a string")


def _price(profile: str, raw: object, today: dt.date) -> Price | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ProfileConfigError(profile, "price", "must be a mapping: amount, currency, per, as_of")
    for key in raw:
        if key not in _PRICE_FIELDS:
            raise ProfileConfigError(
                profile, f"price.{key}", f"unknown field; allowed: {', '.join(sorted(_PRICE_FIELDS))}"
            )
    amount = _number(profile, "price.amount", raw.get("amount"), minimum=0)
    scheduler_amount = _number(profile, "price.scheduler_amount", raw.get("scheduler_amount", 0), minimum=0)
    currency = raw.get("currency")
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
        raise ProfileConfigError(
            profile, "price.currency", f"an ISO 4217 code such as EUR or USD, got {currency!r}"
        )
    per = raw.get("per", "worker-hour")
    if per not in ("worker-hour", "core-hour"):
        raise ProfileConfigError(profile, "price.per", f"'worker-hour' or 'core-hour', got {per!r}")
    as_of_raw = raw.get("as_of")
    if isinstance(as_of_raw, dt.datetime):
        as_of = as_of_raw.date()
    elif isinstance(as_of_raw, dt.date):
        as_of = as_of_raw
    elif isinstance(as_of_raw, str):
        try:
            as_of = dt.date.fromisoformat(as_of_raw)
        except ValueError:
            raise ProfileConfigError(
                profile, "price.as_of", f"a date YYYY-MM-DD, got {as_of_raw!r}"
            ) from None
    else:
        raise ProfileConfigError(profile, "price.as_of", "the date the price was read, YYYY-MM-DD")
    if as_of > today:
        raise ProfileConfigError(profile, "price.as_of", f"{as_of} is in the future")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise ProfileConfigError(profile, "price.source", "must be a string")
    return Price(
        amount=amount,
        currency=currency,
        per=per,
        as_of=as_of,
        source=source,
        scheduler_amount=scheduler_amount,
    )


def _billing(profile: str, raw: object) -> Billing:
    if not isinstance(raw, Mapping):
        raise ProfileConfigError(
            profile, "billing", "must be a mapping: granularity_seconds, minimum_seconds"
        )
    for key in raw:
        if key not in _BILLING_FIELDS:
            raise ProfileConfigError(
                profile, f"billing.{key}", f"unknown field; allowed: {', '.join(sorted(_BILLING_FIELDS))}"
            )
    granularity = _int(profile, "billing.granularity_seconds", raw.get("granularity_seconds", 1), minimum=1)
    minimum = _int(profile, "billing.minimum_seconds", raw.get("minimum_seconds", 0), minimum=0)
    return Billing(granularity_s=granularity, minimum_s=minimum)
