"""Run by Debian's /usr/bin/python3 (python3-qgis, python3-owslib), offscreen: a QGIS user keeps the
server's sign-in in the QGIS authentication manager (a Basic configuration behind a master password)
and reaches the server with it, as the QGIS WPS plugins do:

- QGIS's own network access with the configuration's id (``authcfg``), which adds the credentials to
  every request (GetCapabilities, a synchronous Execute);
- OWSLib (the "OWSLib-based WPS Client" plugin) with the user and password read back from the
  authentication manager.

Usage: python3 qgis_auth_client.py SERVER_URL USER PASSWORD; prints one JSON object of what it saw.
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from lxml import etree
from owslib.util import Authentication
from owslib.wps import WebProcessingService

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsBlockingNetworkRequest
from qgis.PyQt.QtCore import QByteArray, QUrl
from qgis.PyQt.QtNetwork import QNetworkRequest

WPS = "http://www.opengis.net/wps/1.0.0"
OWS = "http://www.opengis.net/ows/1.1"
EXECUTE = (
    f'<wps:Execute xmlns:wps="{WPS}" xmlns:ows="{OWS}" service="WPS" version="1.0.0">'
    "<ows:Identifier>sleep</ows:Identifier><wps:DataInputs><wps:Input><ows:Identifier>seconds</ows:Identifier>"
    "<wps:Data><wps:LiteralData>0.1</wps:LiteralData></wps:Data></wps:Input></wps:DataInputs>"
    "<wps:ResponseForm><wps:RawDataOutput><ows:Identifier>slept</ows:Identifier></wps:RawDataOutput>"
    "</wps:ResponseForm></wps:Execute>"
)


def store_basic(user, password):
    """A Basic configuration in a new authentication database, behind a master password."""
    manager = QgsApplication.authManager()
    if not manager.setMasterPassword("qgis-master-password", True):
        raise SystemExit("the QGIS authentication manager refused the master password")
    config = QgsAuthMethodConfig("Basic")
    config.setName("space-wps")
    config.setConfig("username", user)
    config.setConfig("password", password)
    ok = manager.storeAuthenticationConfig(config)
    if isinstance(ok, tuple):  # QGIS >= 3.28 returns (ok, config)
        ok = ok[0]
    if not ok or not config.id():
        raise SystemExit("the QGIS authentication manager did not store the configuration")
    return config.id()


def fetch(url, authcfg, body=None):
    """A request through QGIS's network access manager; (HTTP status, body)."""
    request = QNetworkRequest(QUrl(url))
    network = QgsBlockingNetworkRequest()
    if authcfg:
        network.setAuthCfg(authcfg)
    if body is None:
        network.get(request)
    else:
        request.setHeader(QNetworkRequest.ContentTypeHeader, "text/xml")
        network.post(request, QByteArray(body.encode()))
    reply = network.reply()
    status = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
    return int(status or 0), bytes(reply.content())


def process_ids(capabilities):
    root = etree.fromstring(capabilities)
    return sorted(root.xpath("//wps:Process/ows:Identifier/text()", namespaces={"wps": WPS, "ows": OWS}))


def main(url, user, password):
    app = QgsApplication([], False)
    app.initQgis()
    authcfg = store_basic(user, password)
    capabilities = f"{url}/wps?service=WPS&request=GetCapabilities"
    seen = {"authcfg_length": len(authcfg)}
    status, body = fetch(capabilities, None)
    seen["anonymous_processes"] = process_ids(body) if status == 200 else status
    status, body = fetch(capabilities, authcfg)
    seen["signed_in_processes"] = process_ids(body) if status == 200 else status
    seen["execute_anonymous"] = fetch(f"{url}/wps", None, EXECUTE)[0]
    status, body = fetch(f"{url}/wps", authcfg, EXECUTE)
    seen["execute_signed_in"] = [status, body.decode()]

    stored = QgsAuthMethodConfig()
    QgsApplication.authManager().loadAuthenticationConfig(authcfg, stored, True)
    auth = Authentication(username=stored.config("username"), password=stored.config("password"))
    try:
        owslib = WebProcessingService(f"{url}/wps", auth=auth, headers={})
        execution = owslib.execute("sleep", [("seconds", "0.1")], output=[("slept", False)])
        for _ in range(600):  # the plugin polls the status until the job ends
            if execution.isComplete():
                break
            execution.checkStatus(sleepSecs=0.1)
        seen["owslib"] = [execution.status, [o.data for o in execution.processOutputs]]
    except Exception as exc:  # what OWSLib says when the server refuses the sign-in
        seen["owslib"] = ["refused", f"{type(exc).__name__}: {exc}"]
    app.exitQgis()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(*sys.argv[1:4])
