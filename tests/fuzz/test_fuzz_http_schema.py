"""Schemathesis against the running daemon's own OpenAPI schema (FastAPI serves /openapi.json).

Every operation is called with generated input; every answer must be what the schema promises: no
server error, a documented status code and content type, a body matching its response schema.
One check is left out: "schema-valid data is accepted" cannot hold for POST /signals, whose rules go
beyond what JSON Schema states (the fields each action needs, a long's stop below its entry, the id
and symbol alphabets, at most 18 decimal places); such a body is rightly answered 400 with its errors.
(The schema is read from the live daemon, so the operations are walked here rather than through
schemathesis's pytest plugin, which needs the schema at collection time.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.fuzz import Running


def test_every_http_operation_answers_as_its_openapi_schema_says(running: Running) -> None:
    schema = schemathesis.openapi.from_url(f"{running.daemon.http_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {(op.method.upper(), op.path) for op in operations} >= {("GET", "/ready"), ("POST", "/signals")}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])

        call()
