"""Pagination over Link rel="next" and X-Total-Count, and the q= builder."""

from __future__ import annotations

import pytest

from harbor_client import Registry, all_of, any_of, between, fuzzy, query
from harbor_client.pagination import list_params, parse_link_header


def test_registries_over_three_pages(harbor_double, harbor_state, harbor):
    for i in range(25):
        harbor_state.add_registry(f"reg-{i:02d}")
    pages = harbor.registries.list(page_size=10)
    assert pages.total is None
    names = [r.name for r in pages]
    assert names == [f"reg-{i:02d}" for i in range(25)]
    assert pages.total == 25
    calls = harbor_double.calls("GET", "/registries")
    assert [c.query["page"] for c in calls] == [["1"], ["2"], ["3"]]
    assert all(c.query["page_size"] == ["10"] for c in calls)


def test_the_generator_is_lazy(harbor_double, harbor_state, harbor):
    for i in range(30):
        harbor_state.add_registry(f"reg-{i:02d}")
    first = next(iter(harbor.registries.list(page_size=10)))
    assert first.name == "reg-00"
    assert harbor_double.count("GET", "/registries") == 1


def test_policies_executions_tasks_and_webhooks_paginate(harbor_double, harbor_state, harbor, relay):
    policy = harbor_state.add_policy("p", dest_registry_id=relay["id"])
    for i in range(23):
        harbor_state.add_policy(f"p{i:02d}", dest_registry_id=relay["id"])
        execution = harbor_state.add_execution(policy["id"], status="Succeed")
        harbor_state.add_task(1, src_resource=f"library/img{i} [1 item(s) in total]")
        harbor_state.add_webhook_policy(1, f"hook{i:02d}")
    assert len(list(harbor.replication_policies.list(page_size=5))) == 24
    assert len(list(harbor.executions.list(policy_id=policy["id"], page_size=5))) == 23
    assert len(list(harbor.executions.tasks(1, page_size=5))) == 23
    assert len(list(harbor.webhook_policies.list("library", page_size=5))) == 23
    assert execution["policy_id"] == policy["id"]
    assert harbor_double.count("GET", "/replication/policies") == 5
    assert harbor_double.count("GET", "/replication/executions") == 5
    assert harbor_double.count("GET", "/replication/executions/{id}/tasks") == 5
    assert harbor_double.count("GET", "/projects/{project_name_or_id}/webhook/policies") == 5


def test_q_and_pages_together(harbor_double, harbor_state, harbor):
    for i in range(12):
        harbor_state.add_registry(f"swr-{i:02d}", type="huawei-SWR")
        harbor_state.add_registry(f"relay-{i:02d}")
    found = list(harbor.registries.list(q=query(type="huawei-SWR"), page_size=5))
    assert [r.name for r in found] == [f"swr-{i:02d}" for i in range(12)]
    assert harbor_double.count("GET", "/registries") == 3


def test_empty_list_is_one_call(harbor_double, harbor):
    pages = harbor.registries.list()
    assert list(pages) == [] and pages.total == 0
    assert harbor_double.count("GET", "/registries") == 1


@pytest.mark.parametrize(("header", "links"), [
    ('</api/v2.0/registries?page=1&page_size=10>; rel="prev" , </api/v2.0/registries?page=3&page_size=10>; rel="next"',
     {"prev": "/api/v2.0/registries?page=1&page_size=10", "next": "/api/v2.0/registries?page=3&page_size=10"}),
    ('</api/v2.0/registries?page=2&page_size=10&q=name={a b},type=x>; rel="next"',
     {"next": "/api/v2.0/registries?page=2&page_size=10&q=name={a b},type=x"}),
    ('<https://h/api/v2.0/x?page=2>; rel=next', {"next": "https://h/api/v2.0/x?page=2"}),
    ("", {}),
    (None, {}),
])
def test_parse_link_header(header, links):
    assert parse_link_header(header) == links


def test_get_by_name_is_exact(harbor_double, harbor_state, harbor):
    harbor_state.add_registry("relay-old")
    harbor_state.add_registry("relay")
    assert harbor.registries.get_by_name("relay").name == "relay"
    assert harbor.registries.get_by_name("rel") is None
    assert harbor_double.last("GET", "/registries").query["q"] == ["name=rel"]


@pytest.mark.parametrize(("terms", "q"), [
    ({"name": "relay"}, "name=relay"),
    ({"name": fuzzy("rel")}, "name=~rel"),
    ({"id": between(1, 10)}, "id=[1~10]"),
    ({"creation_time": between("2020-04-09T02:36:00", None)}, "creation_time=[2020-04-09T02:36:00~]"),
    ({"type": any_of("harbor", "huawei-SWR")}, "type={harbor huawei-SWR}"),
    ({"labels": all_of("a", "b")}, "labels=(a b)"),
    ({"name": "relay", "type": "docker-registry"}, "name=relay,type=docker-registry"),
    ({"name": "~literal"}, "name=\\~literal"),
    ({"name": "[x]"}, "name=\\[x]"),
    ({"name": "a+b%"}, "name=a%2Bb%25"),
    ({"name": "with space"}, "name=with space"),
    ({"name": 7}, "name=7"),
])
def test_query_builder(terms, q):
    assert query(**terms) == q


@pytest.mark.parametrize("build", [
    lambda: query(name="a,b"),
    lambda: query(name=""),
    lambda: any_of("a b", "c"),
    lambda: any_of("a~b"),
    lambda: all_of("x)"),
    lambda: between(None, None),
    lambda: between("a b", 2),
])
def test_query_builder_refuses_what_harbor_cannot_parse(build):
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize("name", ["plus+sign", "per%cent", "with space", "~tilde-first", "(paren"])
def test_awkward_names_survive_harbors_second_unescape(harbor_state, harbor, name):
    harbor_state.add_registry(name)
    harbor_state.add_registry("decoy")
    found = list(harbor.registries.list(q=query(name=name)))
    assert [r.name for r in found] == [name]


@pytest.mark.parametrize("size", [0, 101])
def test_page_size_is_bounded_by_the_swagger_maximum(size):
    with pytest.raises(ValueError, match="1..100"):
        list_params(page_size=size)


def test_created_then_listed_round_trip(harbor, harbor_double):
    harbor.registries.create(Registry(name="one", url="https://one.example.com", type="docker-registry"))
    assert [r.url for r in harbor.registries.list(q=query(name=fuzzy("on")))] == ["https://one.example.com"]


def test_a_next_link_that_does_not_advance_ends_the_listing(harbor_double, harbor):
    looping = {"Link": '</api/v2.0/registries?page=1&page_size=100>; rel="next"', "X-Total-Count": "1"}
    harbor_double.fail("GET", "/registries", 200, body=[{"id": 1, "name": "only"}], headers=looping)
    assert [r.name for r in harbor.registries.list()] == ["only"]
    assert harbor_double.count("GET", "/registries") == 1
