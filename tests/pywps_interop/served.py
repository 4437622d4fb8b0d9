"""What the PyWPS suite's servers share: this server's configuration, files served on loopback, and
the suite run through OWSLib in stock PyWPS and on this server with its outputs made comparable."""

from __future__ import annotations

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from owslib.wps import ASYNC, SYNC, WebProcessingService

CONFIG = """
[server]
processes = tests.pywps_interop.suite:processes
[inputs]
data_roots = {data}
allowed_hosts = 127.0.0.1
private_hosts = 127.0.0.1
max_reference_size = {limit}
[dask]
workers = 1
dashboard =
[logging]
format = text
"""
LITERALS = [
    ("count", "15"),
    ("ratio", "1.5"),
    ("day", "2026-09-20"),
    ("clock", "12:30:00"),
    ("moment", "2026-09-20T12:00:00"),
    ("link", "https://example.org/catalogue?id=7"),
    ("zoom", "0.25"),
    ("heading", "370"),
    ("size", "0"),
    ("rank", "3"),
    ("tags", "first"),
    ("tags", "second"),
]
#: ``[inputs] max_reference_size`` of this server in the suite's tests
REFERENCE_LIMIT = 64 * 1024


class Files:
    """A folder served over HTTP on loopback: what inputs and outputs by URL point at."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def both(servers: dict[str, str]) -> dict[str, WebProcessingService]:
    return {name: WebProcessingService(url, skip_caps=True) for name, url in servers.items()}


def xml_text(text: str | bytes) -> str:
    """XML compared by content: parsed without blank text, exclusive canonical form."""
    root = etree.fromstring(text, etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, method="c14n", exclusive=True).decode()


def outputs(execution: Any) -> dict[str, Any]:
    """Each output as comparable data: literals and inline content as text, references downloaded."""
    found: dict[str, Any] = {}
    for output in execution.processOutputs:
        if output.reference:
            body = requests.get(output.reference, timeout=30)
            assert body.ok, output.reference
            found[output.identifier] = ("reference", output.mimeType, body.content)
        elif output.dataType == "BoundingBoxData":
            box = output.data[0]
            found[output.identifier] = (box.minx, box.miny, box.maxx, box.maxy, box.crs.getcodeurn())
        elif output.dataType == "ComplexData" and "xml" in (output.mimeType or ""):
            found[output.identifier] = ("xml", output.mimeType, xml_text(output.data[0]))
        else:
            found[output.identifier] = (output.dataType, output.mimeType, output.data)
    return found


def run_both(
    servers: dict[str, str], identifier: str, inputs: list[Any], output: Any = None, mode: str = SYNC
) -> dict[str, Any]:
    results = {}
    for name, wps in both(servers).items():
        execution = wps.execute(identifier, inputs, output=output, mode=mode)
        assert execution.status == ("ProcessAccepted" if mode == ASYNC else "ProcessSucceeded"), name
        seen = []
        while not execution.isComplete():
            time.sleep(0.3)
            execution.checkStatus(sleepSecs=0)
            seen.append(execution.percentCompleted)
        assert execution.isSucceded(), (name, [e.text for e in execution.errors])
        results[name] = (outputs(execution), seen)
    return results
