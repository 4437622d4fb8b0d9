"""A job's results as a STAC Item users can follow: the item a process left among its outputs (any
output whose schema is STAC's item schema), its relative asset links turned into absolute ones,
pre-signed with an expiry when the outputs live in an object store."""

from __future__ import annotations

import json
from typing import Any

from wps_server.engine import Engine
from wps_server.jobs.model import Job, OutputRecord

ITEM_MEDIA_TYPE = "application/geo+json"
#: The relation of a job to its results' STAC Item.
REL_ITEM = "item"


def item_record(job: Job) -> OutputRecord | None:
    """The output of ``job`` that is a STAC Item stored with the job, if there is one."""
    for record in job.outputs:
        if record.kind == "complex" and record.file and "stacspec.org" in (record.schema or ""):
            return record
    return None


def linked_item(engine: Engine, job: Job, record: OutputRecord, root: str, self_url: str) -> dict[str, Any]:
    """The stored item with links that work from anywhere: outputs under ``root``/outputs (the
    server serves them) or pre-signed links of the object store; raises the engine's errors when
    the item cannot be read."""
    assert record.file is not None
    item: dict[str, Any] = json.loads(engine.read_output(job.id, record.file))
    expiry = engine.settings.jobs.link_expiry_seconds
    for asset in item.get("assets", {}).values():
        href = str(asset.get("href", ""))
        if "://" in href or href.startswith("/"):
            continue
        signed = engine.storage.signed_url(f"outputs/{job.id}/{href}", expiry)
        asset["href"] = signed or f"{root}/outputs/{job.id}/{href}"
    item["links"] = [
        *(link for link in item.get("links", []) if link.get("rel") not in {"self", "related"}),
        {"rel": "self", "href": self_url, "type": ITEM_MEDIA_TYPE},
        {
            "rel": "related",
            "href": self_url.rsplit("/", 1)[0],
            "type": "application/json",
            "title": "the job",
        },
    ]
    return item
