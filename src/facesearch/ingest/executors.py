"""Where ingest's batches run, chosen by URL in the typed settings.

``FACESEARCH_EXECUTOR``: ``local`` (default; worker processes), ``ray://HOST:10001`` or
``ray://local`` (a Ray cluster started in this process; ``ingest/ray_executor.py``).
A malformed URL raises :class:`~facesearch.errors.ConfigError` naming the setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from facesearch.errors import ConfigError
from facesearch.store.backends import mask_url

if TYPE_CHECKING:
    from facesearch.ingest.runner import ExecutorFactory
    from facesearch.store.ports import Executor

EXECUTOR_ENV = "FACESEARCH_EXECUTOR"


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str  # "local" or "ray"
    url: str
    address: str | None = None  # None: a local Ray cluster started in this process

    @classmethod
    def parse(cls, url: str | None) -> ExecutorSpec:
        text = (url or "local").strip()
        if text.lower() == "local":
            return cls("local", "local")
        parsed = urlparse(text)
        if parsed.scheme != "ray" or not parsed.netloc or parsed.path not in ("", "/"):
            raise ConfigError(
                f"{EXECUTOR_ENV}={mask_url(text)}: expected 'local', ray://HOST:10001 or "
                "ray://local"
            )
        if parsed.netloc == "local":
            return cls("ray", text, None)
        try:
            port = parsed.port or 10001
        except ValueError:
            raise ConfigError(f"{EXECUTOR_ENV}={mask_url(text)}: bad port") from None
        return cls("ray", text, f"ray://{parsed.hostname}:{port}")

    def factory(self) -> ExecutorFactory | None:
        """How ingest starts its workers: None for the local process pool (the runner's own),
        else a function (workers, initializer, initargs) -> a Ray executor."""
        if self.kind == "local":
            return None
        address = self.address

        def make(
            workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
        ) -> Executor:
            from facesearch.ingest.ray_executor import RayExecutor

            return RayExecutor(workers, initializer, initargs, address=address)

        return make
