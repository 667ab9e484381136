"""schemathesis over /openapi.json against the ASGI app: a bounded number of generated
requests per operation (as an administrator, over a real SQLite catalog), asserting no server
error (5xx) and that every response matches its documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)
from tests.support.api import ApiEnv, api_env  # noqa: E402

MAX_EXAMPLES = 5


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with api_env(tmp, passwords=(), ingest_roots=[tmp / "allowed"]) as env:
        gov = env.service.governance
        env.admin_token = gov.create_token("admin", "admin", "fuzz")[0]  # type: ignore[attr-defined]
        gov.open_case("inv", "F-1", "threat-to-life", "warrant 3", "fuzzing case here")
        yield env


@pytest.fixture(scope="module")
def api_schema(fuzz_env: ApiEnv) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_env.app)


def _fuzz(operation: Any, token: str) -> None:
    """Up to MAX_EXAMPLES generated requests for one operation, each response checked."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"},
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )

    run()


@pytest.mark.trials  # API fuzzing: run in CI by make test-trials (19 s; kept out of make test)
def test_api_conforms_to_its_schema(api_schema: Any, fuzz_env: ApiEnv) -> None:
    """Every operation (the schemathesis pytest plugin does not load under pytest 9, so the
    operations are walked here, each with its own bounded Hypothesis run)."""
    token = fuzz_env.admin_token  # type: ignore[attr-defined]
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            _fuzz(operation, token)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 35
    assert not failures, "\n\n".join(failures)


def test_schema_documents_every_route(api_schema: Any, fuzz_env: ApiEnv) -> None:
    paths = set(api_schema.raw_schema["paths"])
    assert "/api/v1/cases/{number}/searches" in paths
    assert len(paths) >= 35
    del fuzz_env
    assert Path
