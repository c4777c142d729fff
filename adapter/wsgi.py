"""The WSGI entry for gunicorn: reads the config file named by SWR_BRIDGE_CONFIG (defaults if unset)."""

import os

from adapter import create_app
from adapter.config import load_config

app = create_app(load_config(os.environ.get("SWR_BRIDGE_CONFIG") or None))
