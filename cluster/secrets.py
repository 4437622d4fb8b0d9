"""``${ENV_VAR}`` in configuration values, and refusal of secrets written in the file itself."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from cluster.errors import ProfileConfigError

ENV_RE: Final = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_ENV_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_KEY_RE: Final = re.compile(r"(token|secret|password|passphrase|api_?key|credential)", re.IGNORECASE)


def substitute(profile: str, where: str, value: Any, env: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` in every string under ``value``."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            var = match.group(1)
            if not _ENV_NAME_RE.match(var):
                raise ProfileConfigError(
                    profile, where, f"${{{var}}} is not a valid environment variable name"
                )
            resolved = env.get(var)
            if resolved is None:
                raise ProfileConfigError(profile, where, f"environment variable {var} is not set")
            if resolved == "":
                raise ProfileConfigError(profile, where, f"environment variable {var} is empty")
            return resolved

        return ENV_RE.sub(repl, value)
    if isinstance(value, Mapping):
        return {k: substitute(profile, f"{where}.{k}", v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(profile, f"{where}[{i}]", v, env) for i, v in enumerate(value)]
    return value


def check_literal_secrets(profile: str, where: str, value: Any) -> None:
    """Secret-looking keys must take their value from ``${ENV_VAR}``, never from the file itself."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{where}.{key}"
            last = str(key).rsplit(".", 1)[-1]
            if SECRET_KEY_RE.search(last) and isinstance(item, str) and not ENV_RE.search(item):
                raise ProfileConfigError(
                    profile, path, "looks like a secret written in the file: use '${ENV_VAR}'"
                )
            check_literal_secrets(profile, path, item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_literal_secrets(profile, f"{where}[{i}]", item)
