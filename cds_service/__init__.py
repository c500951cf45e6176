"""CDS Hooks 2.0 service for immunotherapy decisions in immune-mediated neurological disease.

`create_app` is the Flask application factory (Flask tutorial style): configuration from `CDS_*`
environment variables (`config`), then one `init_app` per concern: the error envelope, CORS, the
request log, the card ledger, authentication, the API blueprint, and the card preview page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

__all__ = ["create_app"]


class CdsFlask(Flask):
    """Flask, with `ensure_sync` answered once per function instead of on every call.

    Flask asks `inspect.iscoroutinefunction` of every hook and view on every request (nine
    times per hook call here, 0.01-0.02 ms in all); the service has no async functions, and the
    answer for a given function never changes, so it is remembered (for the functions the app
    registered: a bounded table). `ensure_sync` is the documented place to change this."""

    _SYNC_CACHE_SIZE = 512

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        try:
            return self._sync[func]
        except KeyError:
            pass
        except TypeError:  # an unhashable callable: ask every time
            return super().ensure_sync(func)
        wrapped = super().ensure_sync(func)
        if len(self._sync) < self._SYNC_CACHE_SIZE:
            self._sync[func] = wrapped
        return wrapped


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    from cds_service import (
        api,
        auth,
        cors,
        errors,
        gc_tuning,
        ledger,
        metrics,
        pilot,
        preview,
        probes,
        request_log,
    )
    from cds_service.config import load_config
    from cds_service.extensions import SEAMS, SERVICES, split_test_config
    from cds_service.services import load_services
    from cds_service.suggestion_check import check_suggestion_builders
    from cds_service.wire_json import OrjsonProvider

    app = CdsFlask(__name__, instance_relative_config=True)
    app.json = OrjsonProvider(app)  # every jsonify through orjson, key order kept (wire_json)
    settings, seams = split_test_config(test_config)
    app.config.update(load_config())
    app.config.update(settings)
    app.extensions[SEAMS] = seams
    # One byte more than the setting: `api._body` tells a chunked body over the limit by it.
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"]) + 1
    app.extensions[SERVICES] = load_services(Path(app.config["HOOKS_DIR"]))
    check_suggestion_builders()  # suggested FHIR resources are validated here, not per call
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    request_log.init_app(app)
    errors.init_app(app)
    cors.init_app(app)
    metrics.init_app(app)  # before authentication: /metrics never sees the EHR's JWT check
    ledger.init_app(app)
    auth.init_app(app)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(probes.blueprint)
    pilot.init_app(app)
    preview.init_app(app)
    gc_tuning.init_app(app)  # last: freezes what start-up built (any WSGI server gets it)
    return app
