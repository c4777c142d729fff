"""`GET /` and `GET /v2` on the API host: SWR's API version document (swr.md §1.4)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

# As SWR's api_versions pages print it; `version` is the microversion the OTC reference documents.
MIN_VERSION, CURRENT = "2.0", "2.26"

bp = Blueprint("sandbox_versions", __name__)


@bp.get("/")
@bp.get("/v2")
def versions():
    # The reference shows no credentials on these calls; the sandbox answers them without any.
    entry = {"id": "v2", "links": {"href": request.host_url + "v2/"}, "min_version": MIN_VERSION,
             "status": "CURRENT", "version": CURRENT}
    return jsonify(versions=[entry])
