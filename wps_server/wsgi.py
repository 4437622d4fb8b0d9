"""The WSGI entry point for gunicorn: the only module that builds the app when imported."""

from wps_server.app import create_app
from wps_server.config import load_settings
from wps_server.logs import configure_logging

settings = load_settings()
configure_logging(settings.log_level, settings.log_format)
app = create_app(settings)
