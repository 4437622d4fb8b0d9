"""The PyWPS suite served by stock PyWPS and by this server (a real ``wps-server serve``), once for the
package's tests that compare them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.server import Server
from tests.pywps_interop.served import CONFIG, REFERENCE_LIMIT, Files
from tests.pywps_interop.stock import StockPyWPS
from tests.pywps_interop.suite import PIXEL


@pytest.fixture(scope="package")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    folder = tmp_path_factory.mktemp("files")
    (folder / "notes.txt").write_text("notes served over HTTP\n")
    (folder / "table.json").write_text('{"rows": [1, 2, 3]}')
    (folder / "pixel.png").write_bytes(PIXEL)
    served = Files(folder)
    yield served
    served.httpd.shutdown()


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory, files: Files) -> Iterator[dict[str, str]]:
    """The WPS endpoints of stock PyWPS (``stock``) and of this server (``ours``)."""
    stock = StockPyWPS(
        tmp_path_factory.mktemp("stock"), "tests.pywps_interop.suite:processes", [files.folder]
    )
    stock.start()
    config = CONFIG.format(data=files.folder, limit=REFERENCE_LIMIT)
    ours = Server(tmp_path_factory.mktemp("ours"), config).start()
    try:
        yield {"stock": f"{stock.url}/wps", "ours": f"{ours.url}/wps"}
    finally:
        stock.stop()
        assert ours.stop() == 0
