"""The HTML pages of the service: a landing page, a job list and a job page, rendered on the server
from the same :class:`ProcessesAPI` calls the JSON answers come from (so whatever those calls filter,
the pages filter too), with Jinja2 templates and static files shipped in the package.

Every page reads without JavaScript; a small script refreshes the live parts and a shipped Leaflet
draws footprints and tracks on a map.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from cluster.storage import StorageError
from wps_server.config import ConfigError, Settings, section_number
from wps_server.engine import Engine
from wps_server.errors import OWSError
from wps_server.jobs.model import Job, OutputRecord, Status
from wps_server.ogcapi.api import BY_NAME, STATUS, ProcessesAPI
from wps_server.ogcapi.stac import item_record

log = logging.getLogger(__name__)

#: "stage: name done/total, name done/total tasks done", as tile-by-tile processes report progress.
_STAGES = re.compile(r"^(?P<active>[\w ]+): (?P<counts>(?:[\w ]+ \d+/\d+(?:, )?)+) tasks done$")
_COUNT = re.compile(r"([\w ]+?) (\d+)/(\d+)")
#: Largest JSON report a job page reads for the prediction beside the measured cost.
_MAX_REPORT = 2_000_000


@dataclass(frozen=True)
class PageSettings:
    """``[pages]``: the base map and the refresh period."""

    basemap_url: str
    basemap_attribution: str
    refresh_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> PageSettings:
        section = settings.section("pages")
        url = section.get("basemap_url", "").strip()
        if url and not (re.match(r"^https?://", url) and all(f"{{{k}}}" in url for k in "xyz")):
            raise ConfigError(
                f"[pages] basemap_url must be an http(s) tile URL with {{z}}, {{x}} and {{y}}, not {url!r}"
            )
        refresh = int(section_number("pages", section, "refresh_seconds", 1, 3600, whole=True))
        return cls(url, section.get("basemap_attribution", "").strip(), refresh)


@dataclass(frozen=True)
class StageCount:
    name: str
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def stage_counts(message: str) -> tuple[str, list[StageCount]]:
    """The active stage and the per-stage task counts of a progress message, if it has them."""
    found = _STAGES.match(message.strip())
    if found is None:
        return "", []
    counts = [StageCount(n.strip(), int(d), int(t)) for n, d, t in _COUNT.findall(found["counts"])]
    return found["active"].strip(), counts


def _duration(job: Job) -> float | None:
    if job.started is None:
        return None
    end = job.finished or datetime.now(UTC)
    started = job.started if job.started.tzinfo else job.started.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return max(0.0, (end - started).total_seconds())


def _seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


def _money(cost: Mapping[str, Any] | None) -> str:
    if not cost:
        return ""
    if not cost.get("priced", True):
        return "not priced"
    return f"{float(cost.get('cost', 0.0)):.4f} {cost.get('currency') or ''}".strip()


def _moment(value: datetime | None) -> str:
    if value is None:
        return ""
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return sentence if len(sentence) <= 160 else sentence[:157] + "..."


class Pages:
    """Renders the pages; ``root`` is the server's base URL, ``base`` the OGC API's."""

    def __init__(self, api: ProcessesAPI, engine: Engine, settings: Settings) -> None:
        self.api = api
        self.engine = engine
        self.settings = settings
        self.page_settings = PageSettings.from_settings(settings)
        self.templates = Environment(
            loader=PackageLoader("wps_server", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _render(self, template: str, base: str, **context: Any) -> str:
        return self.templates.get_template(template).render(
            base=base,
            root=base.rsplit("/", 1)[0],
            static=f"{base}/static",
            title_of_service=self.settings.metadata.title,
            pages=self.page_settings,
            statuses=list(BY_NAME),
            **context,
        )

    # -- landing -----------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Jobs per status, of those the requester may see."""
        return self.engine.job_counts(BY_NAME)

    def landing(self, base: str) -> str:
        processes = [
            {"id": p.identifier, "title": p.title, "line": _first_sentence(p.abstract)}
            for p in self.engine.processes.values()
        ]
        dashboard = self.settings.dask.dashboard.strip()
        if dashboard and not dashboard.startswith(("http://", "https://")):
            dashboard = f"http://{dashboard}/status"
        return self._render(
            "landing.html",
            base,
            meta=self.settings.metadata,
            processes=processes,
            counts=self.counts(),
            dashboard=dashboard,
        )

    # -- jobs --------------------------------------------------------------------------------------
    def jobs(self, base: str, query: Mapping[str, Sequence[str]]) -> str:
        """The job list: the OGC API's own job listing (its filters, its paging), as a table."""
        picked = {k: [v for v in values if v] for k, values in query.items() if k != "f"}
        document = self.api.jobs(base, {k: v for k, v in picked.items() if v}).document
        rows = []
        for info in document["jobs"]:
            job = self.engine.job(info["jobID"])
            if job is None:
                continue
            active, _ = stage_counts(job.message)
            rows.append(
                {
                    "id": job.id,
                    "process": job.process_id,
                    "status": info["status"],
                    "progress": info["progress"],
                    "stage": active or job.message,
                    "submitted": _moment(job.created),
                    "duration": _seconds_text(_duration(job)),
                    "cost": _money(self.engine.store.cost(job.id)),
                }
            )
        links = {link["rel"]: link["href"] for link in document["links"]}
        return self._render(
            "jobs.html",
            base,
            rows=rows,
            processes=sorted(self.engine.processes),
            chosen_status=",".join(picked.get("status", [])),
            chosen_process=",".join(picked.get("processID", [])),
            next_page=_as_html(links.get("next")),
            previous_page=_as_html(links.get("prev")),
            counts=self.counts(),
        )

    # -- one job -----------------------------------------------------------------------------------
    def job(self, base: str, job_id: str) -> str:
        info = self.api.job(base, job_id).document
        job = self.engine.job(job_id)
        assert job is not None  # the API call above raised otherwise
        active, counts = stage_counts(job.message)
        cost = self.engine.store.cost(job.id)
        report = self._report(job) if job.status == Status.SUCCESSFUL else {}
        downloads, pictures, layers = self._outputs(base, job)
        return self._render(
            "job.html",
            base,
            job=job,
            info=info,
            status=STATUS[job.status],
            finished=job.status.finished,
            active=active,
            counts=counts,
            submitted=_moment(job.created),
            started=_moment(job.started),
            ended=_moment(job.finished),
            duration=_seconds_text(_duration(job)),
            cost=cost,
            measured=_money(cost),
            predicted=report.get("cost", {}).get("predicted")
            if isinstance(report.get("cost"), dict)
            else None,
            stages=report.get("stages") if isinstance(report.get("stages"), dict) else None,
            profile=self._profile(job),
            workers=[w for w in (cost or {}).get("workers", []) if isinstance(w, dict)],
            downloads=downloads,
            pictures=pictures,
            layers=layers,
            stac_href=next((link["href"] for link in info["links"] if link["rel"] == "item"), None),
            error=job.error.text if job.error else None,
        )

    def _profile(self, job: Job) -> str | None:
        """The cluster profile the job asked for (the default one when its process takes a ``cluster``
        input and the request named none): shown while it runs, before its bill names it."""
        named = next((s.value for s in job.request.inputs if s.identifier == "cluster" and s.value), None)
        if named is not None:
            return str(named)
        process = self.engine.process(job.process_id)
        clusters = self.engine.clusters
        if process is None or process.input("cluster") is None or clusters is None:
            return None
        return clusters.profiles.default

    def _outputs(self, base: str, job: Job) -> tuple[list[dict[str, Any]], list[str], list[dict[str, str]]]:
        """Download links of every stored output, the pictures among them and the map's layers."""
        if job.status != Status.SUCCESSFUL:
            return [], [], []
        root = base.rsplit("/", 1)[0]
        stac = item_record(job)
        downloads: list[dict[str, Any]] = []
        pictures: list[str] = []
        layers: list[dict[str, str]] = []
        for record in job.outputs:
            if record.kind != "complex":
                text = record.value or " ".join(map(str, (*record.lower, *record.upper)))
                downloads.append({"name": record.identifier, "href": None, "value": text})
                continue
            downloads.append(
                {
                    "name": record.identifier,
                    "href": self._download(root, job, record),
                    "type": record.mime_type,
                }
            )
            if record.href:
                continue
            # pictures and map layers are read by the page itself: from the server, same origin
            served = f"{root}/outputs/{job.id}/{record.file}"
            mime = (record.mime_type or "").split(";")[0].strip().lower()
            if mime == "image/png":
                pictures.append(served)
            if record is stac:
                layers.append({"href": served, "kind": "footprint", "name": "DSM footprint"})
            elif mime == "application/geo+json":
                layers.append({"href": served, "kind": "features", "name": record.identifier})
        return downloads, pictures, layers

    def _download(self, root: str, job: Job, record: OutputRecord) -> str:
        """A link to one output: its own URL, a pre-signed one in an object store, or the server's."""
        if record.href:
            return record.href
        key = f"outputs/{job.id}/{record.file}"
        try:
            signed = self.engine.storage.signed_url(key, self.settings.jobs.link_expiry_seconds)
        except StorageError as exc:  # the server's own link still works
            log.warning("no pre-signed link: %s", exc, extra={"job_id": job.id})
            signed = None
        return signed or f"{root}/{key}"

    def _report(self, job: Job) -> dict[str, Any]:
        """A JSON output named ``report``, for the prediction beside the measured cost and the stages."""
        record = next((o for o in job.outputs if o.identifier == "report" and o.file), None)
        if record is None or "json" not in (record.mime_type or ""):
            return {}
        try:
            body = self.engine.read_output(job.id, record.file or "")
        except OWSError:
            return {}
        if len(body) > _MAX_REPORT:
            return {}
        try:
            report = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return report if isinstance(report, dict) else {}


def _as_html(href: str | None) -> str | None:
    return None if href is None else f"{href}&f=html"
