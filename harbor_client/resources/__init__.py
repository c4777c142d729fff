"""One thin resource class per Harbor API area, each reached through HarborClient's `_request()`."""

from harbor_client.resources.executions import ExecutionsResource
from harbor_client.resources.projects import ProjectsResource
from harbor_client.resources.registries import RegistriesResource
from harbor_client.resources.replication import ReplicationPoliciesResource
from harbor_client.resources.system import SystemResource
from harbor_client.resources.webhooks import WebhookPoliciesResource

__all__ = [
    "ExecutionsResource",
    "ProjectsResource",
    "RegistriesResource",
    "ReplicationPoliciesResource",
    "SystemResource",
    "WebhookPoliciesResource",
]
