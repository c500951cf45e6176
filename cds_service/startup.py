"""Start-up failures an operator can fix, told in one line.

`create_app` raises these before the service says it is starting: a bad or unknown `CDS_*`
setting, unusable service definitions, trust or pilot configuration, a database that cannot be
reached or is not at this release's schema. `problem(exc)` turns one into the line `serve` (and
the other commands that build the app) print before exiting; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

from cds_service.auth.issuers import TrustConfigError
from cds_service.config import ConfigError
from cds_service.migrate import SchemaNotReady
from cds_service.pilot import PilotConfigError
from cds_service.services import RegistryError

_FIXABLE = (ConfigError, SchemaNotReady, TrustConfigError, PilotConfigError, RegistryError)


def problem(exc: BaseException) -> str | None:
    """The one line to print for a start-up failure the operator can fix, else None."""
    if isinstance(exc, _FIXABLE):
        return _one_line(str(exc))
    if isinstance(exc, OperationalError | InterfaceError):
        # The driver's message names host and port (never the password); keep its first line.
        detail = str(exc.orig) if exc.orig is not None else type(exc).__name__
        return "cannot reach the ledger database (CDS_DATABASE_URL): " + _one_line(detail)
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
