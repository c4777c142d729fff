"""The SWR contract: credentials, request signing, naming rules, namespace mapping and the management API."""
