"""The floor: a minimal Flask app, served exactly as the service is, that answers with fixed cards.

It is the physical limit of the stack: the same gunicorn configuration
(`server.gunicorn_options`, same workers and threads), the same POST path, the request body read
and parsed as JSON, and an answer holding the very card list the service returned for that call,
so both send the same number of cards and the same bytes. It reads and writes JSON with orjson,
as the service does: the floor is the stack's, libraries included. The canned answers are keyed
by scenario name; the load generator names the scenario in the `X-Benchmark-Scenario` header,
which the real service ignores. Run as `python -m cds_service.benchmark.floor --responses FILE
...`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, Response, jsonify, request

from cds_service.server import (
    DEFAULT_THREADS,
    DEFAULT_WORKERS,
    GunicornServer,
    gunicorn_options,
)

SCENARIO_HEADER = "X-Benchmark-Scenario"


def create_floor_app(responses: dict[str, dict[str, Any]]) -> Flask:
    """A Flask app answering POST /cds-services/<id> with `responses[scenario]`."""
    app = Flask("cds_benchmark_floor")
    fallback: dict[str, Any] = next(iter(responses.values()), {"cards": []})

    @app.post("/cds-services/<service_id>")
    def call_service(service_id: str) -> Response:
        body = orjson.loads(request.get_data())
        if not isinstance(body, dict):
            return Response("a JSON object is required", status=400)
        answer = responses.get(request.headers.get(SCENARIO_HEADER, ""), fallback)
        return Response(orjson.dumps(answer), mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--responses",
        type=Path,
        required=True,
        help="JSON object: scenario name -> the response body to send",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args(argv)
    responses = json.loads(args.responses.read_text())
    app = create_floor_app(responses)
    options = gunicorn_options("127.0.0.1", args.port, args.workers, args.threads)
    GunicornServer(lambda: app, options).run()


if __name__ == "__main__":
    main()
