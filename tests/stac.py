"""STAC validation that opens no connection: pystac's validator, with the core and GeoJSON schemas
pystac ships and the extension schemas kept in tests/data/stac-schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
import pystac.validation
from pystac.validation.stac_validator import JsonSchemaSTACValidator

SCHEMAS = Path(__file__).parent / "data" / "stac-schemas"
EXTENSIONS = {
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": "projection-v2.0.0.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json": "raster-v1.1.0.json",
}


class _NoNetwork(pystac.StacIO):
    """Any schema not already in the cache would be downloaded: refuse, naming it."""

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        raise AssertionError(f"the validator wanted to download {source}; keep it in {SCHEMAS}")

    def write_text(self, dest: Any, txt: str, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing is written")


def validate_item(item: dict[str, Any]) -> list[str]:
    """Validate a STAC Item against the core schema and those of the extensions it declares; returns
    the schemas used. Raises pystac's STACValidationError when the item does not conform."""
    validator = JsonSchemaSTACValidator()
    for uri, name in EXTENSIONS.items():
        validator.schema_cache[uri] = json.loads((SCHEMAS / name).read_text())
    previous = pystac.StacIO._default_io
    pystac.StacIO.set_default(_NoNetwork)
    try:
        return pystac.validation.validate_dict(item, validator=validator)
    finally:
        pystac.StacIO._default_io = previous
