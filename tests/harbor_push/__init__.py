"""Harbor's jobservice push sequence as a client library, for conformance tests and test doubles.

    from tests.harbor_push import HarborPusher, open_layout

    with HarborPusher(endpoint_url, "eu-de@AK", secret, mode="huawei-SWR", copy_by_chunk=True,
                      chunk_size=1024 * 1024) as pusher:
        result = pusher.copy(open_layout(image.layout), "org/app", ["v1"], override=True)
        assert result.ok, result
        pusher.recorder.summary()   # every request: purpose, method, path, status

Modules: `wire` (Go-style HTTP framing, the recorder), `auth` (probe, challenges, bearer cache),
`client` (registry client.go calls, the huawei-SWR adapter's calls), `sources` (OCI layout, `dir:`
layout, live registry), `sequence` (HarborPusher: copy, delete, fetch_artifacts, PrepareForPush).
No test framework is imported anywhere in this package.
"""

from tests.harbor_push.auth import (
    AuthError,
    BearerAuthorizer,
    RegistryAuthorizer,
    parse_challenge,
    parse_scopes,
)
from tests.harbor_push.client import ChunkPushError, HuaweiClient, RegistryClient, RegistryError
from tests.harbor_push.sequence import (
    CHUNKED,
    CONTENT_LENGTH,
    DEFAULT_CHUNK_SIZE,
    DOCKER_REGISTRY,
    HUAWEI_SWR,
    ChunkAbort,
    CopyResult,
    DeleteResult,
    FetchedRepository,
    HarborPusher,
    ReferenceOutcome,
)
from tests.harbor_push.sources import (
    MANIFEST_ACCEPTS,
    DirSource,
    Manifest,
    OciLayoutSource,
    RegistrySource,
    open_layout,
)
from tests.harbor_push.wire import (
    GO_USER_AGENT,
    HARBOR_USER_AGENT,
    Exchange,
    Recorder,
    Transport,
    TransportError,
    go_values_encode,
    with_query,
)

__all__ = [
    "AuthError", "BearerAuthorizer", "CHUNKED", "CONTENT_LENGTH", "ChunkAbort", "ChunkPushError", "CopyResult",
    "DEFAULT_CHUNK_SIZE", "DOCKER_REGISTRY", "DeleteResult", "DirSource", "Exchange", "FetchedRepository",
    "GO_USER_AGENT", "HARBOR_USER_AGENT", "HUAWEI_SWR", "HarborPusher", "HuaweiClient", "MANIFEST_ACCEPTS",
    "Manifest", "OciLayoutSource", "Recorder", "ReferenceOutcome", "RegistryAuthorizer", "RegistryClient",
    "RegistryError", "RegistrySource", "Transport", "TransportError", "go_values_encode", "open_layout",
    "parse_challenge", "parse_scopes", "with_query",
]
