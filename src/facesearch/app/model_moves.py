"""Standing data that holds vectors, and how it moves with the gallery to another recognizer.

A gallery's faces are re-embedded by the migration pass (``facesearch models migrate``); other
data holds vectors of the active recognizer too: standing queries, media faces and their
persons, suppression entries, cross-case media alerts. Each kind is a :class:`StandingMove`:

* :meth:`~StandingMove.prepare` makes the target model's vectors for every item that lacks
  them (resumable and idempotent: done items are skipped), with the target model's pipeline;
* :meth:`~StandingMove.blockers` lists the items that cannot be moved, each with why and what
  to do (the switch refuses while there are any, so nothing stops being enforced or searched);
* :meth:`~StandingMove.switch` runs inside the switch's own transaction: the items answer with
  the target model's vectors from then on (the old ones are kept, for a switch back);
* :meth:`~StandingMove.drop` deletes a model's kept vectors (when an administrator drops it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from facesearch.engine.pipeline import FacePipeline

#: (done, total) of one kind's preparation
MoveProgress = Callable[[int, int], None]


@dataclass
class MoveReport:
    kind: str
    moved: int = 0  # vectors made for the target model in this run
    already: int = 0  # items that had one
    failed: dict[str, str] = field(default_factory=dict)  # item -> why


class StandingMove(Protocol):
    kind: str  # e.g. "standing queries"

    def prepare(
        self,
        pipeline: FacePipeline,
        source_model_key: str,
        on_progress: MoveProgress | None = None,
    ) -> MoveReport:
        """Make ``pipeline``'s model's vectors for every item of ``source_model_key`` lacking
        them."""
        ...

    def blockers(self, source_model_key: str, target_model_key: str) -> list[str]:
        """Items of the source model with no vector of the target model, each with why."""
        ...

    def switch(self, session: Session, source_model_key: str, target_model_key: str) -> int:
        """Inside the switch transaction: the items answer with the target's vectors."""
        ...

    def drop(self, session: Session, model_key: str) -> int:
        """Delete the kept vectors of ``model_key``; returns how many."""
        ...
