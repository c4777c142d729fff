"""The transfer core shared by the endpoint's SWR upstream and `swr-bridge sync` / `copy`.

    auth.py    parse_challenge(), TokenCache: WWW-Authenticate parsing and bearer tokens per scope
    client.py  RegistryClient: one Registry V2 host (Bearer, Basic or no auth), TransferError
"""
