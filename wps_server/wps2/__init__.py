"""WPS 2.0.0: requests (:mod:`.parse`), documents (:mod:`.documents`) and the service (:mod:`.service`)."""
