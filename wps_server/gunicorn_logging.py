"""gunicorn's own log lines (its arbiter's and the access log) as JSON, like every other log line of
``serve``: ``--logger-class wps_server.gunicorn_logging.JsonLogger``."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from wps_server.logs import JsonFormatter


class JsonLogger(Logger):
    """gunicorn's logger with one JSON object a line on each of its handlers."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())
