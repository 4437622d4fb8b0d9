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
