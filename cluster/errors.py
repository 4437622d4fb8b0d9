"""Exception family of the ``cluster`` package: one root, typed attributes, messages a user can act on."""

from __future__ import annotations


class ClusterError(Exception):
    """Root of every error raised by ``cluster``."""


class ProfileConfigError(ClusterError):
    """A cluster profile in the configuration is invalid.

    ``profile`` is the profile name (``"<file>"`` for file-level problems) and ``field`` the dotted path
    of the offending field inside it.
    """

    def __init__(self, profile: str, field: str, message: str) -> None:
        self.profile = profile
        self.field = field
        self.reason = message
        where = f"profile {profile!r}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {message}")


class UnknownProfileError(ClusterError):
    """A job asked for a profile name that the registry does not have."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown cluster profile {name!r}; known profiles: {', '.join(known) or 'none'}")


class MissingDependencyError(ClusterError):
    """The Python package behind a profile kind is not installed."""

    def __init__(self, kind: str, module: str, extra: str | None, cause: str) -> None:
        self.kind = kind
        self.module = module
        self.extra = extra
        hint = f"install it with: pip install 'space-wps[{extra}]'" if extra else "reinstall space-wps"
        super().__init__(f"cluster kind {kind!r} needs the module {module!r} ({cause}); {hint}")


class ClusterStartError(ClusterError):
    """A per-job cluster could not be created or connected to."""


class ClusterCloseError(ClusterError):
    """A per-job cluster could not be closed; its registry record is kept for the orphan sweep."""


class CalibrationError(ClusterError):
    """A calibration file or run report cannot be used for estimates."""


class ClusterStartCancelled(ClusterError):
    """The job was cancelled while its per-job cluster was starting; what had started is torn down."""


class WorkerSoftwareError(ClusterStartError):
    """The workers of a cluster do not run the server's software (project, S2P, Dask, Python, GDAL).

    ``differences`` maps each worker to what differs on it, one ``name: worker has X, server has Y``
    text per package.
    """

    def __init__(self, profile: str, differences: dict[str, list[str]]) -> None:
        self.profile = profile
        self.differences = differences
        shown = sorted(differences.items())[:3]
        parts = [f"{worker}: {'; '.join(items)}" for worker, items in shown]
        more = f" (and {len(differences) - 3} more workers)" if len(differences) > 3 else ""
        super().__init__(
            f"the workers of cluster profile {profile!r} do not run the server's software: "
            f"{' | '.join(parts)}{more}. Start them from the server's image or environment"
        )
