"""Row 11 of the hostile-traffic table: NUL and other control characters in the API's free-text filters."""

import pytest

from tests.unit.webhooks.helpers import api_get


@pytest.mark.parametrize("query", ["/events?event_type=REPLICATION%00x", "/deliveries?sink=ops%00http",
                                   "/events?event_type=%0d%0aX"])
def test_control_characters_in_a_filter_are_a_400_on_every_store(make_app, query):
    client = make_app().test_client()
    resp = api_get(client, query)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "INVALID_QUERY"
    assert api_get(client, "/events?event_type=REPLICATION").status_code == 200
