"""Migration into SWR without Harbor: `swr-bridge sync` (image-syncer's files and flags) and `copy`.

    files.py       --auth / --images in JSON or YAML (plus AK/SK accounts for SWR hosts)
    references.py  host/repo[:tags|:/regex/|@digest], oci:DIR, --registry/--namespace fill-ins
    plan.py        rules checked and mapped (endpoint mapping, SWR naming), source tags listed -> jobs
    remote.py      a registry through adapter.transfer's RegistryClient; SWR organizations
    layout.py      OCI layout directories as sources
    manifests.py   media types, blobs, index children, --arch/--os filters
    engine.py      images: platform selection, skips, manifests, retries and the final pass
    blobs.py       the bounded blob pool: each blob once, mounts, streamed uploads, the budget
    progress.py    the TTY status line or plain lines, the summary and the JSON report
    cli.py         the click commands (register(main) adds `sync` and `copy`)
"""
