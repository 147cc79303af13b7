"""Fuzz every API operation from its OpenAPI schema (schemathesis, through the WSGI app).

Bounded: a few examples per operation, no shrinking. Signed in as an operator (olivia) so
operator operations run their code, not just the permission check.
"""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis import checks

from tests.factories import PARIS, make_operator, make_person

EXAMPLES_PER_OPERATION = 15


def positive_ids(case) -> bool:
    return all(
        not isinstance(value, int) or value >= 0 for value in (case.path_parameters or {}).values()
    )


@pytest.fixture
def schema(transactional_db):
    app = get_wsgi_application()
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)


@pytest.mark.django_db(transaction=True)
def test_no_operation_answers_5xx_or_breaks_its_schema(schema):
    olivia = make_operator("olivia@example.org", "Olivia")
    make_person("alice@example.org", "Alice", places=[PARIS])
    token = Token.objects.create(user=olivia).key
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        # Ids in paths are 1 to 2**63 - 1 (backend/common/converters.py, and the schema says
        # so); out-of-range ids are covered by tests/platform/test_bad_requests.py.
        @given(case=operation.as_strategy().filter(positive_ids))
        def run(case) -> None:
            response = case.call(headers={"Authorization": f"Token {token}"})
            if response.status_code == 503 and "push_unavailable" in response.text:
                return  # Web Push is deliberately off here (no VAPID key): not a fault
            case.validate_response(
                response,
                checks=[
                    checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.response_schema_conformance,
                    checks.content_type_conformance,
                ],
            )

        try:
            run()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label}: {str(exc)[:300]}")
    print(f"\nfuzzed {operations} operations, {len(failures)} failing")
    assert operations > 30
    assert failures == [], "\n\n".join(failures)
