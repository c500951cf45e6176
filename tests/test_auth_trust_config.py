"""Trust configuration for real EHRs: an issuer that sends `jku` (the CDS Hooks sandbox always
does) pinned to inline keys so a site without outbound access can trust it, and per-issuer
`audiences` for EHRs whose `aud` the health system configures (Epic-style)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from cds_service import create_app
from cds_service.auth.issuers import TrustConfigError, parse_trusted_issuers
from cds_service.auth.jwks import KeySets
from cds_service.auth.replay import InMemoryReplayCache
from cds_service.auth.verifier import TokenRefused, TokenVerifier
from tests.fake_ehr import (
    EPIC_ISS,
    SANDBOX_ISS,
    SANDBOX_JKU,
    FakeClock,
    FakeEhr,
    ec_private_key,
    epic,
    hospital_group,
    sandbox,
    write_trusted_issuers,
)

ROOT = Path(__file__).resolve().parent.parent
AUD = "https://cds.example.org/cds-services/immunotherapy-guidance"
EPIC_AUD = "https://cds.example.org/epic"  # what the health system typed into Epic


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    # No URL registered unless a test does: any unexpected fetch fails loudly and is recorded.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def verifier(document: dict[str, Any], clock: FakeClock) -> TokenVerifier:
    return TokenVerifier(
        parse_trusted_issuers(document),
        key_sets=KeySets(clock=clock),
        replay_cache=InMemoryReplayCache(clock),
        clock=clock,
    )


def pinned_sandbox(ehr: FakeEhr | None = None) -> dict[str, Any]:
    ehr = ehr or sandbox()
    return {"issuers": {SANDBOX_ISS: {"jku": [SANDBOX_JKU], "jwks": ehr.jwks()}}}


def test_a_pinned_kid_is_used_without_fetching_the_jku(
    clock: FakeClock, mock: responses.RequestsMock
) -> None:
    ehr = sandbox()
    check = verifier(pinned_sandbox(ehr), clock)
    for _ in range(3):
        assert check.verify(ehr.token(AUD, clock.now), [AUD])["iss"] == SANDBOX_ISS
    assert len(mock.calls) == 0


def test_a_kid_not_pinned_is_fetched_from_the_listed_jku(
    clock: FakeClock, mock: responses.RequestsMock
) -> None:
    pinned, rotated = sandbox(), sandbox()
    rotated.kid, rotated.private_key = "sandbox-rotated", ec_private_key("sandbox-rotated")
    mock.get(SANDBOX_JKU, json=rotated.jwks())
    check = verifier(pinned_sandbox(pinned), clock)
    check.verify(rotated.token(AUD, clock.now), [AUD])
    check.verify(pinned.token(AUD, clock.now), [AUD])
    assert [str(c.request.url) for c in mock.calls] == [SANDBOX_JKU]


def test_offline_site_refuses_an_unpinned_kid_and_still_accepts_the_pinned_one(
    clock: FakeClock, mock: responses.RequestsMock
) -> None:
    # The jku is unreachable (nothing registered: a connection error), as on a closed network.
    pinned, other = sandbox(), sandbox()
    other.kid, other.private_key = "unknown-kid", ec_private_key("unknown")
    check = verifier(pinned_sandbox(pinned), clock)
    with pytest.raises(TokenRefused, match="no key"):
        check.verify(other.token(AUD, clock.now), [AUD])
    check.verify(pinned.token(AUD, clock.now), [AUD])


def test_a_pinned_kid_with_another_key_does_not_verify(clock: FakeClock) -> None:
    pinned, impostor = sandbox(), sandbox()
    impostor.private_key = ec_private_key("impostor")  # same kid, different key
    check = verifier(pinned_sandbox(pinned), clock)
    with pytest.raises(TokenRefused, match="bad signature"):
        check.verify(impostor.token(AUD, clock.now), [AUD])


def test_a_jku_that_is_not_listed_is_refused_even_when_the_kid_is_pinned(
    clock: FakeClock, mock: responses.RequestsMock
) -> None:
    ehr = sandbox()
    inline_only = {"issuers": {SANDBOX_ISS: {"jwks": ehr.jwks()}}}
    with pytest.raises(TokenRefused, match="`jku` is not on the issuer's list"):
        verifier(inline_only, clock).verify(ehr.token(AUD, clock.now), [AUD])
    other_jku = ehr.token(AUD, clock.now, header={"jku": "https://evil.example/jwks.json"})
    with pytest.raises(TokenRefused, match="`jku` is not on the issuer's list"):
        verifier(pinned_sandbox(ehr), clock).verify(other_jku, [AUD])
    assert len(mock.calls) == 0


def test_inline_keys_come_first_for_a_jwks_url_issuer_too(
    clock: FakeClock, mock: responses.RequestsMock
) -> None:
    ehr = epic()
    ehr.jku = None  # Epic-style: no jku header, keys exchanged out of band
    url = EPIC_ISS + "/jwks"
    document = {"issuers": {EPIC_ISS: {"jwks_url": url, "jwks": ehr.jwks()}}}
    verifier(document, clock).verify(ehr.token(AUD, clock.now), [AUD])
    assert len(mock.calls) == 0


def epic_with_audience(ehr: FakeEhr) -> dict[str, Any]:
    return {"issuers": {EPIC_ISS: {"jwks": ehr.jwks(), "audiences": [EPIC_AUD]}}}


def test_a_configured_audience_is_accepted_for_that_issuer(clock: FakeClock) -> None:
    ehr = epic()
    ehr.jku = None
    check = verifier(epic_with_audience(ehr), clock)
    check.verify(ehr.token(EPIC_AUD, clock.now), [AUD])
    check.verify(ehr.token(EPIC_AUD + "/", clock.now), [AUD])  # trailing slash, as elsewhere
    check.verify(ehr.token(AUD, clock.now), [AUD])  # the endpoint's own URL still counts


@pytest.mark.parametrize(
    "aud",
    [
        EPIC_AUD + "/other",
        "https://cds.example.org",
        "https://cds.example.org/EPIC",
        "http://cds.example.org/epic",
        "https://cds.example.org.evil.example/epic",
    ],
)
def test_an_audience_is_matched_exactly(clock: FakeClock, aud: str) -> None:
    ehr = epic()
    ehr.jku = None
    with pytest.raises(TokenRefused, match="`aud` is not this endpoint's URL"):
        verifier(epic_with_audience(ehr), clock).verify(ehr.token(aud, clock.now), [AUD])


def test_one_issuers_audiences_do_not_extend_to_another(clock: FakeClock) -> None:
    ehr, group = epic(), hospital_group()
    ehr.jku = None
    document = epic_with_audience(ehr)
    document["issuers"][group.iss] = {"jwks": group.jwks()}
    with pytest.raises(TokenRefused, match="`aud` is not this endpoint's URL"):
        verifier(document, clock).verify(group.token(EPIC_AUD, clock.now), [AUD])


@pytest.mark.parametrize(
    ("audiences", "problem"),
    [
        (["https://*.example.org/cds-services"], "one exact URL"),
        (["*"], "one exact URL"),
        (["https://cds.example.org/cds?x=1"], "one exact URL"),
        (["https://cds.example.org/cds#frag"], "one exact URL"),
        (["https://user:pw@cds.example.org/cds"], "one exact URL"),
        (["http://cds.example.org/cds"], "https URL"),
        (["cds.example.org/cds"], "https URL"),
        ([""], "non-empty"),
        ([7], "non-empty"),
        ([], "empty; omit it"),
        ("https://cds.example.org/cds", "list of URLs"),
    ],
)
def test_audiences_must_be_a_list_of_exact_https_urls(audiences: Any, problem: str) -> None:
    document = {"issuers": {EPIC_ISS: {"jwks_url": EPIC_ISS + "/jwks", "audiences": audiences}}}
    with pytest.raises(TrustConfigError, match=re.escape(problem)):
        parse_trusted_issuers(document)


def test_loopback_http_audience_is_allowed_for_development() -> None:
    document = {"issuers": {EPIC_ISS: {"jwks_url": EPIC_ISS + "/jwks", "audiences": []}}}
    document["issuers"][EPIC_ISS]["audiences"] = ["http://127.0.0.1:8080/cds-services"]
    issuer = parse_trusted_issuers(document)[EPIC_ISS]
    assert issuer.audiences == frozenset({"http://127.0.0.1:8080/cds-services"})


def test_the_service_trusts_a_pinned_sandbox_with_no_outbound_fetch(
    tmp_path: Path, clock: FakeClock, mock: responses.RequestsMock
) -> None:
    ehr = sandbox()
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "sqlite://",
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path, pinned_sandbox(ehr))),
            "PUBLIC_BASE_URL": "https://cds.example.org",
            "AUTH_CLOCK": clock,
        }
    )
    response = app.test_client().get(
        "/cds-services",
        headers={"Authorization": "Bearer " + ehr.token(AUD.rsplit("/", 1)[0], clock.now)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(mock.calls) == 0


def _readme_trust_documents() -> list[dict[str, Any]]:
    section = (ROOT / "README.md").read_text().split("## Authentication", 1)[1].split("\n## ")[0]
    blocks = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    return [json.loads(block) for block in blocks if '"issuers"' in block]


def test_the_readme_trust_entries_are_valid_and_cover_the_sandbox_and_an_epic_style_ehr() -> None:
    documents = _readme_trust_documents()
    assert documents, "the README's Authentication section shows no trusted-issuers document"
    issuers = {iss: i for d in documents for iss, i in parse_trusted_issuers(d).items()}
    sandbox_entry = issuers[SANDBOX_ISS]
    assert SANDBOX_JKU in sandbox_entry.jku and sandbox_entry.jwks is not None
    configured = [i for i in issuers.values() if i.audiences and i.jku == frozenset()]
    assert configured, "no Epic-style entry (out-of-band keys, configured audience)"
