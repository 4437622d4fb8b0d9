"""Space situational awareness domain: CCSDS/TLE formats and the observation and orbit catalogue.

Imports neither pywps nor flask; the WPS adapters in ``processes/wps_*.py`` call into it.
"""
