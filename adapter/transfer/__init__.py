"""The transfer core shared by the endpoint's SWR upstream and `swr-bridge sync` / `copy`; no Flask in here.

    auth.py     parse_challenge(), TokenCache: WWW-Authenticate parsing and bearer tokens per scope
    client.py   RegistryClient: one Registry V2 host (Bearer, Basic or no auth)
    errors.py   TransferError, upstream_error(): an upstream's failure and error body
    oci.py      manifest media types, the digest pattern
    streams.py  BodyStream / SizedBodyStream (hashed, metered bodies), bounded reads of upstream bodies
    session.py  LeanSession, pooled_session(): the one HTTP session of the sync and the endpoint
    transport.py  LeanAdapter: calls read whole on pooled http.client connections (sync and endpoint)
"""
