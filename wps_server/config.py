"""Layered configuration: packaged defaults, pywps.cfg, --config/$PYWPS_CFG, then the environment.

The result is an immutable :class:`Settings`; nothing here is module-global or mutable.
"""

from __future__ import annotations

import configparser
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from wps_server.spelling import closest, did_you_mean

ENV_PREFIX = "WPS_"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
_UNITS |= {"t": 1024**4, "tb": 1024**4}


class ConfigError(Exception):
    """The configuration cannot be used; the message says which file, section and key."""


@dataclass(frozen=True)
class Metadata:
    title: str
    abstract: str
    keywords: tuple[str, ...]
    provider_name: str
    provider_url: str
    contact_name: str
    contact_email: str
    source_url: str


@dataclass(frozen=True)
class InputPolicy:
    data_roots: tuple[Path, ...]
    allowed_hosts: tuple[str, ...]
    private_hosts: tuple[str, ...]
    allowed_buckets: tuple[str, ...]
    max_reference_size: int
    max_inline_size: int
    download_timeout: float


@dataclass(frozen=True)
class DaskSettings:
    scheduler: str
    workers: int
    threads_per_worker: int
    memory_limit: str
    dashboard: str


@dataclass(frozen=True)
class JobSettings:
    max_concurrent: int
    max_queued: int
    retention_days: float
    #: Where jobs' folders and outputs live (see cluster.storage): empty means data_dir.
    storage: str = ""
    #: How long a pre-signed link to an output in an object store stays valid.
    link_expiry_seconds: int = 3600


@dataclass(frozen=True)
class Settings:
    url: str
    host: str
    port: int
    workers: int
    data_dir: Path
    max_request_size: int
    #: proxies in front whose X-Forwarded-For, -Proto, -Host and -Port headers are believed
    trusted_proxies: int
    processes: str
    language: str
    database_url: str
    log_level: str
    log_format: str
    metadata: Metadata
    inputs: InputPolicy
    dask: DaskSettings
    jobs: JobSettings
    sources: tuple[str, ...]
    sections: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, str]:
        """The raw values (``${VAR}`` expanded) of a section the service itself does not read,
        such as a process family's own settings; empty if the section is absent."""
        return self.sections.get(name, {})

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


def config_files(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The deployment's files in the order they apply: ./pywps.cfg, then --config or $PYWPS_CFG."""
    env = os.environ if environ is None else environ
    files = [Path("pywps.cfg")] if Path("pywps.cfg").is_file() else []
    chosen = explicit or env.get("PYWPS_CFG")
    if chosen:
        for name in chosen.split(os.pathsep):
            path = Path(name)
            if not path.is_file():
                raise ConfigError(f"configuration file {name} does not exist")
            if path.resolve() not in [f.resolve() for f in files]:
                files.append(path)
    return files


def load_settings(
    files: Sequence[Path] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> Settings:
    """Read the layers and return checked settings; ``overrides`` (section -> key -> value) win last."""
    env = os.environ if environ is None else environ
    paths = list(config_files(environ=env) if files is None else files)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(resources.files("wps_server").joinpath("default.cfg").read_text(), "<defaults>")
    known = {section: set(parser.options(section)) for section in parser.sections()}
    for path in paths:
        layer = configparser.ConfigParser(interpolation=None)
        try:
            with path.open() as handle:
                layer.read_file(handle, str(path))
        except (OSError, configparser.Error) as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc}") from exc
        if layer.defaults():
            check_known(known, layer.default_section, "", str(path))
        for section in layer.sections():
            for key in layer.options(section):
                check_known(known, section, key, str(path))
        parser.read_dict(layer)
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and "_" in name[len(ENV_PREFIX) :]:
            section, key = name[len(ENV_PREFIX) :].lower().split("_", 1)
            if section in known:  # WPS_<other>_... variables belong to someone else
                check_known(known, section, key, f"environment variable {name}")
                parser.set(section, key, value)
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            check_known(known, section, key, "overrides")
            parser.set(section, key, value)
    return _build(_Reader(parser, env), tuple(str(p) for p in paths))


def check_known(known: Mapping[str, set[str]], section: str, key: str, where: str) -> None:
    """Refuse a section or key that the packaged defaults do not define, naming ``where`` it was set
    and the closest known spelling, so that a misspelt limit is never silently ignored."""
    listed = "wps_server/default.cfg documents every section and key"
    if section not in known:
        hint = closest(section, known)
        guess = f"; did you mean [{hint}]?" if hint else ""
        raise ConfigError(f"{where}: there is no section [{section}]{guess} ({listed})")
    if key in known[section]:
        return
    owners = [name for name, keys in known.items() if key in keys]
    guess = f"; it belongs in [{owners[0]}]" if owners else did_you_mean(key, known[section])
    raise ConfigError(f"{where}: [{section}] has no key {key}{guess} ({listed})")


def parse_size(text: str, where: str) -> int:
    """Bytes of a size such as ``64mb``, ``2gb`` or ``512`` (binary units); ``where`` names the key."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"{where} must be a size such as 64mb, not {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def section_number(
    name: str, section: Mapping[str, str], key: str, low: float, high: float, *, whole: bool = False
) -> float:
    """The number ``key`` of a process family's section ``[name]`` (see ``Settings.section``), within
    [``low``, ``high``] and, with ``whole``, a whole number; a ConfigError naming the key otherwise."""
    text = section.get(key, "").strip()
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"[{name}] {key} must be a number, not {text!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"[{name}] {key} must lie between {low:g} and {high:g}, not {text}")
    if whole and value != int(value):
        raise ConfigError(f"[{name}] {key} must be a whole number, not {text!r}")
    return value


class _Reader:
    """Typed access to the merged parser, with ${VAR} expansion and errors that name the key."""

    def __init__(self, parser: configparser.ConfigParser, env: Mapping[str, str]) -> None:
        self._parser = parser
        self._env = env

    def text(self, section: str, key: str) -> str:
        raw = self._parser.get(section, key, fallback="")

        def expand(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self._env:
                raise ConfigError(f"[{section}] {key} uses ${{{name}}}, but {name} is not set")
            return self._env[name]

        return _VAR.sub(expand, raw).strip()

    def integer(self, section: str, key: str, minimum: int = 0) -> int:
        text = self.text(section, key)
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"[{section}] {key} must be a whole number, not {text!r}") from None
        if value < minimum:
            raise ConfigError(f"[{section}] {key} must be at least {minimum}, not {value}")
        return value

    def number(self, section: str, key: str, minimum: float = 0.0) -> float:
        text = self.text(section, key)
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"[{section}] {key} must be a number, not {text!r}") from None
        if value < minimum:
            raise ConfigError(f"[{section}] {key} must be at least {minimum}, not {value}")
        return value

    def size(self, section: str, key: str) -> int:
        return parse_size(self.text(section, key), f"[{section}] {key}")

    def others(self) -> dict[str, dict[str, str]]:
        """Every section outside the service's own, with its values expanded."""
        own = {"server", "metadata", "database", "dask", "inputs", "jobs", "logging"}
        return {
            name: {key: self.text(name, key) for key in self._parser.options(name)}
            for name in self._parser.sections()
            if name not in own
        }

    def items(self, section: str, key: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in re.split(r"[,\n]", self.text(section, key)) if item.strip())


def _storage(text: str) -> str:
    from cluster.storage import check_storage_url

    try:
        return check_storage_url(text)
    except ValueError as exc:
        raise ConfigError(f"[jobs] storage: {exc}") from None


def _link_expiry(read: _Reader) -> int:
    seconds = read.integer("jobs", "link_expiry", minimum=1)
    if seconds > 604800:  # S3's own limit for a pre-signed link
        raise ConfigError(f"[jobs] link_expiry must be at most 604800 seconds (7 days), not {seconds}")
    return seconds


def _build(read: _Reader, sources: tuple[str, ...]) -> Settings:
    data_dir = Path(read.text("server", "data_dir") or "./var").absolute()
    auto = read.text("dask", "workers") == "auto"
    n_workers = (os.cpu_count() or 1) if auto else read.integer("dask", "workers", minimum=1)
    log_format = read.text("logging", "format")
    if log_format not in {"json", "text"}:
        raise ConfigError(f"[logging] format must be json or text, not {log_format!r}")
    level = read.text("logging", "level").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"[logging] level must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    scheduler = read.text("dask", "scheduler")
    if scheduler != "local" and not re.match(r"^(tcp|tls|inproc)://", scheduler):
        raise ConfigError(f"[dask] scheduler must be 'local' or a tcp:// address, not {scheduler!r}")
    return Settings(
        url=read.text("server", "url").rstrip("/"),
        host=read.text("server", "host"),
        port=read.integer("server", "port", minimum=0),
        workers=read.integer("server", "workers", minimum=1),
        data_dir=data_dir,
        max_request_size=read.size("server", "max_request_size"),
        trusted_proxies=read.integer("server", "trusted_proxies", minimum=0),
        processes=read.text("server", "processes"),
        language=read.text("server", "language"),
        database_url=read.text("database", "url") or f"sqlite:///{data_dir / 'jobs.sqlite'}",
        log_level=level,
        log_format=log_format,
        metadata=Metadata(
            title=read.text("metadata", "title"),
            abstract=read.text("metadata", "abstract"),
            keywords=read.items("metadata", "keywords"),
            provider_name=read.text("metadata", "provider_name"),
            provider_url=read.text("metadata", "provider_url"),
            contact_name=read.text("metadata", "contact_name"),
            contact_email=read.text("metadata", "contact_email"),
            source_url=read.text("metadata", "source_url"),
        ),
        inputs=InputPolicy(
            data_roots=tuple(Path(p).absolute() for p in read.items("inputs", "data_roots")),
            allowed_hosts=read.items("inputs", "allowed_hosts"),
            private_hosts=read.items("inputs", "private_hosts"),
            allowed_buckets=read.items("inputs", "allowed_buckets"),
            max_reference_size=read.size("inputs", "max_reference_size"),
            max_inline_size=read.size("inputs", "max_inline_size"),
            download_timeout=read.number("inputs", "download_timeout", minimum=0.1),
        ),
        dask=DaskSettings(
            scheduler=scheduler,
            workers=n_workers,
            threads_per_worker=read.integer("dask", "threads_per_worker", minimum=1),
            memory_limit=read.text("dask", "memory_limit"),
            dashboard=read.text("dask", "dashboard"),
        ),
        jobs=JobSettings(
            max_concurrent=read.integer("jobs", "max_concurrent", minimum=1),
            max_queued=read.integer("jobs", "max_queued", minimum=0),
            retention_days=read.number("jobs", "retention_days"),
            storage=_storage(read.text("jobs", "storage")),
            link_expiry_seconds=_link_expiry(read),
        ),
        sources=sources,
        sections=read.others(),
    )
