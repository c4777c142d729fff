"""swr-bridge's provisioning: the bridge file, plan/apply, replicate (follow, --retry-failed), the inventory
commands and their printers. It drives Harbor through harbor_client, which never imports it."""
