"""The application service: the one layer every interface (CLI, HTTP API, web app) calls.

* :class:`~.principal.Principal` - who is acting (user and roles), from a session, a token or
  a verified password; never a bare name from an HTTP client.
* :class:`~.service.Service` - governed operations taking a principal and bytes, returning
  the typed results of :mod:`.results`.
"""

from facesearch.app.principal import Principal
from facesearch.app.service import Service

__all__ = ["Principal", "Service"]
