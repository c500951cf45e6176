"""`cds-service dev-keys` and `cds-service dev-token`: a development EHR identity, so a newcomer can
call an authenticated service in one line (CDS Hooks 2.0 "Trusting CDS Clients").

`dev-keys` makes an EC P-384 key pair (ES384, which the spec RECOMMENDS) and writes three files
into a folder: the private key (PEM, readable by the owner only), the public JWK Set, and a
trusted-issuers file that trusts that key inline, ready for CDS_TRUSTED_ISSUERS_FILE. `dev-token`
prints a JWT signed with that key for one endpoint URL (the `aud`), with a fresh `jti`, short
lifetime, and the `iss` and `kid` read from those files. Development only: the private key sits
on disk unencrypted.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import click
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

__all__ = ["commands", "dev_keys", "dev_token"]

PRIVATE_KEY_FILE = "dev-private-key.pem"
JWKS_FILE = "dev-jwks.json"
ISSUERS_FILE = "trusted-issuers.json"
DEFAULT_ISSUER = "https://dev-ehr.invalid"  # .invalid (RFC 2606): can never be a real issuer
ALGORITHM = "ES384"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@click.command("dev-keys")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dev-keys"),
    show_default=True,
    help="Folder for the three files.",
)
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True, help="The `iss` to trust.")
@click.option("--force", is_flag=True, help="Replace an existing development key.")
def dev_keys(out_dir: Path, issuer: str, force: bool) -> None:
    """Create a development EC P-384 key pair, its JWK Set and a trusted-issuers file."""
    key_path = out_dir / PRIVATE_KEY_FILE
    if key_path.exists() and not force:
        raise click.ClickException(f"{key_path} exists; pass --force to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)
    private_key = ec.generate_private_key(ec.SECP384R1())
    kid = f"dev-{uuid.uuid4()}"
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    jwks = {"keys": [jwk]}
    _write_private(
        key_path,
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    (out_dir / JWKS_FILE).write_text(json.dumps(jwks, indent=2) + "\n", encoding="utf-8")
    issuers = {
        "issuers": {
            issuer: {
                "comment": (
                    "development issuer from `cds-service dev-keys`; never trust it in production"
                ),
                "jwks": jwks,
            }
        }
    }
    (out_dir / ISSUERS_FILE).write_text(json.dumps(issuers, indent=2) + "\n", encoding="utf-8")
    click.echo(f"wrote {key_path}, {out_dir / JWKS_FILE} and {out_dir / ISSUERS_FILE}")
    click.echo(f"  export CDS_TRUSTED_ISSUERS_FILE={(out_dir / ISSUERS_FILE).resolve()}")


def _read_identity(keys_dir: Path) -> tuple[Any, str, str]:
    try:
        pem = (keys_dir / PRIVATE_KEY_FILE).read_bytes()
        jwks = json.loads((keys_dir / JWKS_FILE).read_text(encoding="utf-8"))
        issuers = json.loads((keys_dir / ISSUERS_FILE).read_text(encoding="utf-8"))["issuers"]
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(
            f"cannot read the development keys in {keys_dir} ({exc}); run `cds-service dev-keys`"
        ) from None
    if len(issuers) != 1 or len(jwks.get("keys", [])) != 1:
        raise click.ClickException(f"{keys_dir} must hold exactly one issuer and one key")
    private_key = serialization.load_pem_private_key(pem, password=None)
    return private_key, next(iter(issuers)), jwks["keys"][0]["kid"]


@click.command("dev-token")
@click.argument("aud")
@click.option(
    "--keys",
    "keys_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dev-keys"),
    show_default=True,
    help="Folder written by dev-keys.",
)
@click.option(
    "--lifetime",
    type=click.IntRange(1, 3600),
    default=300,
    show_default=True,
    help="Seconds until the token expires.",
)
@click.option("--tenant", default=None, help="Add a `tenant` claim.")
def dev_token(aud: str, keys_dir: Path, lifetime: int, tenant: str | None) -> None:
    """Print an ES384 JWT for the endpoint URL AUD, e.g. http://localhost:8080/cds-services."""
    private_key, iss, kid = _read_identity(keys_dir)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    if tenant:
        claims["tenant"] = tenant
    click.echo(
        jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"typ": "JWT", "kid": kid})
    )


commands = [dev_keys, dev_token]
