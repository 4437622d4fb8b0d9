"""Loading the processes named in ``[server] processes``, after configuration.

The key holds entries separated by commas or new lines, each ``module:attribute`` or a module alone
(its ``processes`` attribute). An attribute is a list of processes, or a callable that returns one:
called with the settings when it takes an argument (``processes:shipped_processes``), with none
otherwise (as PyWPS packages' ``get_processes()``). A process is this server's
:class:`~wps_server.process.Process` or a ``pywps.Process``, which
:mod:`wps_server.pywps_processes` adapts; nothing past this module tells them apart.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterable
from typing import Any

from wps_server.config import ConfigError, Settings
from wps_server.process import Process


def entries(settings: Settings) -> list[str]:
    """The entries of ``[server] processes``, in order."""
    return [item.strip() for item in re.split(r"[,\n]", settings.processes) if item.strip()]


def entry_module(entry: str) -> str:
    return entry.partition(":")[0]


def load_processes(settings: Settings) -> list[Process]:
    """Every process of every entry; a ConfigError naming the entry for one that cannot be used."""
    found = entries(settings)
    if not found:
        raise ConfigError("[server] processes names no module; e.g. processes:shipped_processes")
    offered: dict[str, tuple[Process, str]] = {}
    adapted_pywps = False
    for entry in found:
        for item in _entry_items(entry, settings):
            if isinstance(item, Process):
                process = item
            elif _is_pywps_process(item):
                from wps_server.pywps_processes import adapt, isolate_pywps_configuration

                if not adapted_pywps:
                    isolate_pywps_configuration(settings)
                    adapted_pywps = True
                process = adapt(item, settings, entry)
            else:
                raise ConfigError(
                    f"[server] processes = {entry} returned a {type(item).__name__}, which is neither "
                    "a wps_server.process.Process nor a pywps.Process"
                )
            if process.identifier in offered:
                other = offered[process.identifier][1]
                where = f"{entry} offers it twice" if other == entry else f"{other} and {entry} both offer it"
                raise ConfigError(
                    f"[server] processes: two processes share the identifier {process.identifier} ({where})"
                )
            offered[process.identifier] = (process, entry)
    return [process for process, _ in offered.values()]


def _entry_items(entry: str, settings: Settings) -> list[Any]:
    module_name, _, attribute = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"[server] processes = {entry}: module {module_name} cannot be imported: {exc}"
        ) from exc
    try:
        factory = getattr(module, attribute or "processes")
    except AttributeError:
        raise ConfigError(
            f"[server] processes = {entry}: module {module_name} has no attribute {attribute or 'processes'}"
        ) from None
    items = factory(*_arguments(factory, settings)) if callable(factory) else factory
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise ConfigError(
            f"[server] processes = {entry} returned a {type(items).__name__}, not a list of processes"
        )
    return list(items)


def _arguments(factory: Any, settings: Settings) -> tuple[Any, ...]:
    """``(settings,)`` for a factory that takes an argument, ``()`` for one that takes none."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return (settings,)
    takes = [p for p in parameters if p.kind in {p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD}]
    return (settings,) if takes else ()


def _is_pywps_process(item: object) -> bool:
    """True for a ``pywps.Process`` (pywps is imported by then if anything made one)."""
    pywps = sys.modules.get("pywps")
    return pywps is not None and isinstance(item, pywps.Process)
