"""What may be said about a FHIR URL in a log line or an error message: scheme, host, port and the
path with every id replaced by `{id}`, never the query string. A FHIR path is
`[base]/Type/id[/_history/vid]` or `[base]/Type?query`; the segment after a resource type (a
segment starting with an upper-case letter, as every FHIR resource type does) is an id, and so is
the one after `_history`. `https://ehr.example.org/fhir/Patient/123` becomes
`https://ehr.example.org/fhir/Patient/{id}`: patient ids never reach a log through a URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

ID = "{id}"


def fhir_path(url: str) -> str:
    parts = urlsplit(url)
    segments = parts.path.split("/")
    redacted: list[str] = []
    previous = ""
    for segment in segments:
        is_type = previous[:1].isupper() and previous.isalpha()
        redacted.append(ID if segment and (is_type or previous == "_history") else segment)
        previous = segment
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    prefix = f"{parts.scheme}://{host}{port}" if parts.scheme else ""
    return prefix + "/".join(redacted)
