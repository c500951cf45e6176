"""Log hygiene (issue 5 "Hygiene"; CDS Hooks best practices: never log whole JWTs): the plugin in
`tests/log_hygiene_plugin.py` watches every log record of the whole suite for the tokens the tests
used. These tests prove the plugin is active and would catch a leak."""

from __future__ import annotations

import logging

from flask.testing import FlaskClient

from tests.conftest import patient_view_request
from tests.log_hygiene_plugin import HYGIENE, Hygiene

FAKE_JWT = "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJlLW5vdC1yZWFs"


def test_the_log_hygiene_plugin_is_registered_for_the_whole_suite() -> None:
    assert HYGIENE.active, (
        'add `pytest_plugins = ["tests.log_hygiene_plugin"]` to tests/conftest.py'
    )


def test_tokens_sent_through_the_test_client_are_watched(client: FlaskClient) -> None:
    access_token = "opaque-fhir-access-token-for-hygiene-0002"
    body = patient_view_request(
        fhirServer="http://127.0.0.1:1/fhir",
        fhirAuthorization={
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        },
    )
    client.post(
        "/cds-services/unknown-service", json=body, headers={"Authorization": f"Bearer {FAKE_JWT}"}
    )
    assert FAKE_JWT in HYGIENE.secrets and access_token in HYGIENE.secrets


def test_a_leaked_token_would_be_reported() -> None:
    hygiene = Hygiene()
    hygiene.remember("opaque-access-token-0003")
    logger = logging.getLogger("tests.hygiene.self-check")
    hygiene.capture(
        logger.makeRecord(
            logger.name,
            logging.INFO,
            __file__,
            1,
            "calling FHIR with %s",
            ("opaque-access-token-0003",),
            None,
        )
    )
    assert hygiene.leaks() != []


def test_a_token_remembered_after_it_was_logged_is_still_caught() -> None:
    hygiene = Hygiene()
    logger = logging.getLogger("tests.hygiene.self-check")
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        1,
        "request",
        (),
        None,
        extra={"fields": {"authorization": "opaque-access-token-0004"}},
    )
    hygiene.capture(record)
    assert hygiene.leaks() == []
    hygiene.remember("opaque-access-token-0004")
    assert hygiene.leaks() != []


def test_anything_shaped_like_a_jwt_in_a_log_is_reported() -> None:
    hygiene = Hygiene()
    logger = logging.getLogger("tests.hygiene.self-check")
    hygiene.capture(
        logger.makeRecord(
            logger.name, logging.WARNING, __file__, 1, "bad token %s", (FAKE_JWT,), None
        )
    )
    assert hygiene.leaks() != []


def test_calls_below_the_loggers_level_are_watched_too() -> None:
    logger = logging.getLogger("tests.hygiene.quiet")
    logger.setLevel(logging.WARNING)
    logger.debug("marker %s", "debug-call-0005")
    assert any("debug-call-0005" in text for _, text in HYGIENE.records)


def test_patient_identifiers_sent_through_the_test_client_are_watched(
    client: FlaskClient,
) -> None:
    body = patient_view_request()
    body["context"]["patientId"] = "hygiene-patient-0004"
    body["prefetch"]["patient"] = {
        "resourceType": "Patient",
        "id": "hygiene-patient-0004",
        "name": [{"family": "Hygienova", "given": ["Petra"]}],
        "birthDate": "1961-07-14",
    }
    client.post("/cds-services/immunotherapy-guidance", json=body)
    for value in ("hygiene-patient-0004", "Hygienova", "Petra", "1961-07-14"):
        assert value in HYGIENE.patient_identifiers


def test_a_leaked_patient_identifier_would_be_reported_as_a_whole_token() -> None:
    hygiene = Hygiene()
    hygiene.remember_patient("pat-1")
    logger = logging.getLogger("cds_service.fhir_client")  # a logger of the service's own

    def logged(text: str) -> list[str]:
        hygiene.capture(logger.makeRecord(logger.name, logging.INFO, __file__, 1, text, (), None))
        return hygiene.leaks()

    assert logged("fhir GET http://127.0.0.1:5000/fhir/Patient/{id} -> 200") == []
    assert logged("patient pat-10, repat-1x and rule pat-1-gate are other tokens") == []
    assert logged("fhir GET http://127.0.0.1:5000/fhir/Patient/pat-1 -> 200") != []
    other_library = logging.getLogger("urllib3.connectionpool")
    hygiene.capture(
        other_library.makeRecord(
            other_library.name,
            logging.DEBUG,
            __file__,
            1,
            "GET /fhir/Condition?patient=pat-1",
            (),
            None,
        )
    )
    assert hygiene.leaks() == []  # no handler ever writes another library's DEBUG records
