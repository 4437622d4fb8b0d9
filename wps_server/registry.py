"""Loading the process list named in the configuration ("module:callable"), after configuration."""

from __future__ import annotations

import importlib

from wps_server.config import ConfigError, Settings
from wps_server.process import Process


def load_processes(settings: Settings) -> list[Process]:
    module_name, _, attribute = settings.processes.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute or "processes")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"[server] processes = {settings.processes} cannot be loaded: {exc}") from exc
    processes = list(factory(settings))
    seen: set[str] = set()
    for process in processes:
        if process.identifier in seen:
            raise ConfigError(f"two processes share the identifier {process.identifier}")
        seen.add(process.identifier)
    return processes
