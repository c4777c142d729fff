"""The webhook bridge: durable intake of Harbor REPLICATION webhooks, grouping, routes, sinks and the outbox."""
