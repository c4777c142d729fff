"""Runs every benchmark in bench/ one after the other (what `make bench` does)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["relay.py", "concurrency.py", "bandwidth.py", "webhooks.py", "sync.py", "convert.py", "store_scale.py", "sync_scale.py",
           "abuse.py", "slowclients.py"]

failed = []
for name in BENCHES:
    path = HERE / name
    if not path.exists():
        print(f"== {name}: not present yet", flush=True)
        continue
    print(f"== {name}", flush=True)
    if subprocess.run([sys.executable, str(path)], cwd=HERE).returncode != 0:
        failed.append(name)
sys.exit(1 if failed else 0)
