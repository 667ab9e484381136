"""The web app: static HTML, CSS and JavaScript served by ``facesearch serve`` at ``/``.

No build step: the files under ``static/`` are what the browser gets. The path is exposed for
the server so that it never has to guess where the package keeps them.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
