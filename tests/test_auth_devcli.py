"""`dev-keys` and `dev-token` (issue 5 "Modes"): a development issuer made in one command, whose
tokens the service accepts for exactly the endpoint they name."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
from click.testing import CliRunner

from cds_service import create_app
from cds_service.cli.devauth import commands, dev_keys, dev_token
from tests.log_hygiene_plugin import remember_secret

BASE = "https://cds.example.org"


def make_keys(tmp_path: Path) -> Path:
    out = tmp_path / "dev-keys"
    result = CliRunner().invoke(dev_keys, ["--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def mint(keys: Path, aud: str, *extra: str) -> str:
    result = CliRunner().invoke(dev_token, [aud, "--keys", str(keys), *extra])
    assert result.exit_code == 0, result.output
    return remember_secret(result.output.strip())


def test_the_cli_module_exposes_both_commands_by_name() -> None:
    assert [c.name for c in commands] == ["dev-keys", "dev-token"]


def test_dev_keys_writes_a_private_key_a_jwks_and_a_trusted_issuers_file(tmp_path: Path) -> None:
    out = make_keys(tmp_path)
    key_file = out / "dev-private-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    jwks = json.loads((out / "dev-jwks.json").read_text())
    (jwk,) = jwks["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-384", "ES384")
    assert "d" not in jwk
    issuers = json.loads((out / "trusted-issuers.json").read_text())["issuers"]
    assert next(iter(issuers.values()))["jwks"] == jwks


def test_dev_keys_refuses_to_overwrite_a_key_without_force(tmp_path: Path) -> None:
    out = make_keys(tmp_path)
    again = CliRunner().invoke(dev_keys, ["--out", str(out)])
    assert again.exit_code != 0 and "--force" in again.output
    assert CliRunner().invoke(dev_keys, ["--out", str(out), "--force"]).exit_code == 0


def test_dev_token_is_es384_with_kid_iss_aud_and_a_fresh_jti(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    first, second = mint(keys, BASE + "/cds-services"), mint(keys, BASE + "/cds-services")
    header = jwt.get_unverified_header(first)
    claims = jwt.decode(first, options={"verify_signature": False})
    assert header["alg"] == "ES384" and header["typ"] == "JWT"
    assert header["kid"] == json.loads((keys / "dev-jwks.json").read_text())["keys"][0]["kid"]
    assert claims["aud"] == BASE + "/cds-services" and claims["exp"] - claims["iat"] == 300
    assert claims["jti"] != jwt.decode(second, options={"verify_signature": False})["jti"]


def test_the_service_accepts_a_dev_token_for_the_endpoint_it_names(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    app = create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": True,
            "DATABASE_URL": "sqlite://",
            "TRUSTED_ISSUERS_FILE": str(keys / "trusted-issuers.json"),
            "PUBLIC_BASE_URL": BASE,
        }
    )
    client = app.test_client()

    def status(aud: str) -> int:
        token = mint(keys, aud)
        return client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(BASE + "/cds-services") == 200
    assert status(BASE + "/cds-services/another") == 401


def test_dev_token_without_keys_says_how_to_make_them(tmp_path: Path) -> None:
    result = CliRunner().invoke(dev_token, [BASE, "--keys", str(tmp_path / "absent")])
    assert result.exit_code != 0 and "dev-keys" in result.output
