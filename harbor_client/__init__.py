"""A strict client for the Harbor v2.0 API: registries, replication, executions, webhooks, system."""
