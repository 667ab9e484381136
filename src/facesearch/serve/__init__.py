"""The HTTP server: the REST API (:mod:`.api`) and the web app's static files (``web/``)."""
