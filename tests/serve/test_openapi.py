"""The OpenAPI document declares every error answer, as application/problem+json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.api import api_env

PROBLEM = "application/problem+json"
PUBLIC = {"/api/v1/health", "/api/v1/auth/login"}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_operation_declares_its_error_answers(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=()) as env:
        spec = env.client().get("/openapi.json").json()
    ops = operations(spec)
    assert len(ops) > 40
    assert "Problem" in spec["components"]["schemas"]
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        answers = op["responses"]
        expected = set()
        if path not in PUBLIC:
            expected |= {"401", "403"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in op:
            expected |= {"413", "422"}
            if "multipart/form-data" in op["requestBody"]["content"]:
                expected.add("415")
        assert expected <= answers.keys(), (where, expected - answers.keys())
        for status, answer in answers.items():
            if status.startswith(("4", "5")):
                content = answer["content"]
                assert list(content) == [PROBLEM], (where, status)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"401", "422", "429"} <= login.keys()
    search = spec["paths"]["/api/v1/cases/{number}/searches"]["post"]["responses"]
    assert {"401", "403", "404", "413", "415", "422", "429", "503"} <= search.keys()
    health = spec["paths"]["/api/v1/health"]["get"]["responses"]
    assert "401" not in health
