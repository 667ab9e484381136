"""The application layer: the one orchestrator of governed acts, and the only layer the
interfaces (CLI, HTTP API, web app) call.

* :class:`~.principal.Principal` - who is acting (user and roles), from a session, a token or
  a verified password; never a bare name from an HTTP client.
* :class:`~.service.Service` - the composition root, handing out the resource services
  (accounts, cases, searches, faces, admin, library) that take a principal and bytes and
  return the typed results of :mod:`.results`.
"""

from facesearch.app.principal import Principal
from facesearch.app.searches import SearchRequest
from facesearch.app.service import Service

__all__ = ["Principal", "SearchRequest", "Service"]
