"""bridge.yaml validation: every bad file exits 2 and names the file, the key path and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adapter.cli import main
from provisioning.bridgefile import BridgeFileError, load_bridgefile, load_data
from tests.unit.cli.helpers import base_document, run

EXAMPLE = Path(__file__).parents[3] / "deploy" / "harbor" / "bridge.example.yaml"


def _set(doc, path, value):
    *parents, last = path
    for key in parents:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()

# (where to change, new value, key path named in the error, a piece of the reason)
BAD = [
    (("rules", 0, "destination", "flatten"), 4, "rules[0].destination.flatten", "invalid flatten value 4"),
    (("rules", 0, "destination", "namespace"), "Dev_Container", "rules[0].destination.namespace", "lowercase"),
    (("rules", 0, "trigger"), {"cron": "*/5 * * * *"}, "rules[0].trigger", "six fields"),
    (("rules", 0, "trigger"), "hourly", "rules[0].trigger", "manual, event_based or {cron"),
    (("rules", 0, "bandwidth"), "10 parsecs", "rules[0].bandwidth", "invalid bandwidth"),
    (("rules", 0, "endpoint"), "otc-eu-nl", "rules[0].endpoint", "no endpoint named 'otc-eu-nl'"),
    (("rules", 0, "source", "project"), _DELETE, "rules[0].source.project", "required key is missing"),
    (("rules", 0, "source", "labels"), "release", "rules[0].source.labels", 'expected a list, got "release"'),
    (("rules", 0, "overide"), True, "rules[0].overide", "unknown key"),
    (("rules", 0, "single_active_replication"), True, "rules[0].single_active_replication", None),
    (("endpoints", 0, "provider"), "harbor", "endpoints[0].provider", "docker-registry, huawei-SWR"),
    (("endpoints", 0, "url"), "swr-bridge.example.com", "endpoints[0].url",
     'expected a URL such as https://host[:port], got "swr-bridge.example.com"'),
    (("endpoints", 0, "access_secret"), "plain-text", "endpoints[0].access_secret",
     "secrets never go in the file: name an env variable with access_secret_env"),
    (("endpoints", 0, "access_secret_env"), _DELETE, "endpoints[0].access_secret_env", "set both access_id"),
    (("endpoints", 0, "name"), "x" * 65, "endpoints[0].name", "Length must be between 1 and 64"),
    (("harbor", "url"), _DELETE, "harbor.url", "required key is missing"),
    (("harbor", "password"), "Harbor12345", "harbor.password", "password_env"),
    (("harbor", "password_env"), _DELETE, "harbor.password_env", "set both username and password_env"),
    (("webhooks", 0, "events"), ["REPLICATED"], "webhooks[0].events[0]", "Must be one of"),
    (("webhooks", 0, "format"), "Slack", "webhooks[0].format", "Default, CloudEvents"),
    (("webhooks", 0, "auth_header"), "Bearer x", "webhooks[0].auth_header", "auth_header_env"),
    (("webhooks", 0, "events"), [], "webhooks[0].events", "Shorter than minimum length 1"),
    (("rulez",), [], "rulez", "unknown key"),
    # A password in a URL was printed in "Harbor unreachable" lines; a rate past Harbor's int32 speed was
    # accepted, a sub-byte one too (found by the input audit).
    (("harbor", "url"), "https://admin:Harbor12345@harbor.example.com", "harbor.url", "must not carry a password"),
    (("endpoints", 0, "url"), "https://u:pw@swr-bridge.example.com", "endpoints[0].url", "must not carry a password"),
    (("webhooks", 0, "url"), "https://u:pw@example.com/hook", "webhooks[0].url", "must not carry a password"),
    (("rules", 0, "bandwidth"), "9" * 400 + "GiB/s", "rules[0].bandwidth", "the most Harbor's speed (an int32) holds"),
    (("rules", 0, "bandwidth"), "4bit/s", "rules[0].bandwidth", "under 1 B/s"),
    (("harbor", "ca_bundle"), "/nonexistent/ca.pem", "harbor.ca_bundle", "no such file"),
    (("rules", 0, "destination", "namespace"), "a-" * 50_000 + "a", "rules[0].destination.namespace",
     "characters left out"),
]


@pytest.mark.parametrize(("where", "value", "key_path", "reason"), BAD, ids=[b[2] for b in BAD])
def test_a_bad_file_exits_2_and_names_file_key_and_reason(document, write, harbor_double, where, value, key_path,
                                                         reason):
    if where == ("rules", 0, "single_active_replication"):
        document["rules"][0]["trigger"] = "event_based"
        reason = "event_based"
    _set(document, where, value)
    path = write(document)
    result = run("plan", "-f", path)
    assert result.exit_code == 2, result.output
    assert f"{path}: {key_path}: " in result.output
    assert reason in result.output
    assert harbor_double.requests == []  # refused before Harbor is asked anything


def test_duplicate_names_name_the_second_one(document, write):
    document["rules"].append({**document["rules"][0]})
    document["webhooks"].append({**document["webhooks"][0], "url": "https://other.example.com/hook"})
    result = run("plan", "-f", write(document))
    assert result.exit_code == 2
    assert "rules[1].name: 'library-to-swr' is used twice" in result.output
    assert "webhooks[1].name: 'swr-bridge-library' is used twice" in result.output


def test_every_problem_is_listed_not_only_the_first(document, write):
    document["rules"][0]["destination"]["flatten"] = "some"
    document["endpoints"][0]["provider"] = "quay"
    result = run("plan", "-f", write(document))
    assert result.exit_code == 2
    assert "rules[0].destination.flatten" in result.output and "endpoints[0].provider" in result.output


@pytest.mark.parametrize(("text", "reason"), [
    ("harbor: {url: [", "not valid YAML at line 1"),
    ("- just\n- a list\n", "the top level must be a mapping"),
    ("", "the top level must be a mapping"),
])
def test_unparsable_files_exit_2(write, text, reason):
    path = write(text)
    result = run("plan", "-f", path)
    assert result.exit_code == 2 and f"{path}: " in result.output and reason in result.output


@pytest.mark.parametrize(("content", "reason"), [
    (b"harbor: \xff\xfe\n", "not UTF-8 text (byte 0xff at offset 8)"),
    (b"a: " + b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        b"%c: &%c [%s]\n" % (98 + i, 98 + i, b", ".join([b"*%c" % (97 + i)] * 9)) for i in range(8)), "a YAML bomb"),
    (b"a: &a [*a]\n", "an alias inside its own anchor"),
])
def test_a_file_that_is_no_yaml_text_exits_2(tmp_path, content, reason):
    # Each was a traceback (UnicodeDecodeError, RecursionError) or hours of walking 387 million nodes.
    path = tmp_path / "bridge.yaml"
    path.write_bytes(content)
    for command in (["plan", "-f", path], ["endpoints", "list", "-f", path]):
        result = CliRunner().invoke(main, [str(a) for a in command])
        assert result.exit_code == 2, result.output  # a traceback is exit 1
        assert f"{path}: " in result.output and reason in result.output and len(result.output) < 500


def test_a_missing_file_exits_2(tmp_path):
    result = run("apply", "-f", str(tmp_path / "nope.yaml"), "--yes")
    assert result.exit_code == 2 and "nope.yaml: cannot read the file" in result.output


def test_an_unset_secret_env_names_its_key_path(document, write, monkeypatch, harbor_double):
    monkeypatch.delenv("SWR_SECRET")
    path = write(document)
    result = run("plan", "-f", path)
    assert result.exit_code == 2
    assert f"{path}: endpoints[0].access_secret_env: env variable SWR_SECRET is not set" in result.output
    assert harbor_double.writes() == 0


def test_an_unset_harbor_password_names_its_key_path(bridge, monkeypatch, harbor_double):
    monkeypatch.delenv("HARBOR_PASSWORD")
    result = run("endpoints", "list", "-f", bridge)
    assert result.exit_code == 2 and "harbor.password_env: env variable HARBOR_PASSWORD is not set" in result.output
    assert harbor_double.requests == []


@pytest.mark.parametrize("command", [["apply", "-f", "FILE", "--yes"], ["preview", "-f", "FILE"],
                                     ["replicate", "library-to-swr", "-f", "FILE"], ["rules", "list", "-f", "FILE"],
                                     ["webhooks", "list", "-f", "FILE"]])
def test_every_command_that_reads_the_file_refuses_a_bad_one(document, write, harbor_double, command):
    document["rules"][0]["destination"]["flatten"] = 9
    path = write(document)
    result = run(*(path if arg == "FILE" else arg for arg in command))
    assert result.exit_code == 2 and f"{path}: rules[0].destination.flatten" in result.output
    assert harbor_double.requests == []


def test_the_example_file_validates():
    bridge = load_bridgefile(EXAMPLE)
    assert [e.name for e in bridge.endpoints] == ["otc-eu-de"]
    assert bridge.rules[0].flatten == -1 and bridge.rules[0].namespace == "dev-container"
    nightly = bridge.rule("releases-nightly")
    assert (nightly.trigger, nightly.cron, nightly.speed) == ("scheduled", "0 0 2 * * *", 81920)
    assert nightly.name_filter == "library/apps/**" and nightly.labels == ("release",)
    assert bridge.webhooks[0].name == "swr-bridge-library" and bridge.webhooks[0].auth_header_env


def test_the_issue_example_loads_with_harbors_values():
    bridge = load_data(base_document("https://harbor.example.com"))
    rule = bridge.rules[0]
    assert (rule.trigger, rule.cron, rule.speed, rule.flatten) == ("manual", None, -1, -1)
    assert bridge.harbor.password_env == "HARBOR_PASSWORD" and bridge.endpoints[0].verify_remote_cert is True


def test_defaults_fill_a_minimal_rule():
    doc = {"endpoints": [{"name": "e", "provider": "huawei-SWR", "url": "https://swr.example.com"}],
           "rules": [{"name": "r", "endpoint": "e", "source": {"project": "p"}}]}
    rule = load_data(doc).rules[0]
    assert (rule.repositories, rule.tags, rule.namespace, rule.flatten, rule.override, rule.enabled) == \
        ("**", "**", "", -1, True, True)
    with pytest.raises(BridgeFileError) as err:
        load_data({"rules": [{"name": "r", "endpoint": "e", "source": {"project": "p"}, "trigger": "manual"}]}, "f.yaml")
    assert err.value.problems == [("rules[0].endpoint", "no endpoint named 'e' in endpoints")]


@pytest.mark.parametrize(("namespace", "rule"), [("1team", "organization.start"), ("a" * 65, "organization.length")])
def test_plan_refuses_a_destination_namespace_swr_would_refuse(document, write, harbor_double, namespace, rule):
    """Harbor accepts these namespaces; SWR refuses the organization at every push, so plan says so first."""
    _set(document, ("rules", 0, "destination", "namespace"), namespace)
    result = run("plan", "-f", write(document))
    assert result.exit_code == 2, result.output
    assert "rules[0].destination.namespace: SWR would refuse every push" in result.output and rule in result.output
    assert harbor_double.requests == []


def test_bridge_section_makes_a_webhook_policy_per_rule_project_to_its_intake(document):
    document.pop("webhooks")
    document["rules"].append({**document["rules"][0], "name": "team-to-swr",
                              "source": {"project": "team", "repositories": "**"}})
    document["bridge"] = {"url": "https://bridge.example.com/"}
    loaded = load_data(document)
    assert loaded.bridge.token_env == "BRIDGE_API_TOKEN" and loaded.bridge.intake_token_env == "BRIDGE_WEBHOOK_TOKEN"
    assert [(w.project, w.name, w.url, w.auth_header_env, w.events, w.from_bridge) for w in loaded.webhooks] == [
        ("library", "swr-bridge-library", "https://bridge.example.com/webhooks/harbor", "BRIDGE_WEBHOOK_TOKEN",
         ("REPLICATION",), True),
        ("team", "swr-bridge-team", "https://bridge.example.com/webhooks/harbor", "BRIDGE_WEBHOOK_TOKEN",
         ("REPLICATION",), True)]


def test_a_webhook_the_file_already_points_at_the_intake_is_not_doubled(document):
    document["bridge"] = {"url": "https://swr-bridge.example.com", "intake_token_env": "HOOK_TOKEN"}
    loaded = load_data(document)
    assert [w.name for w in loaded.webhooks] == ["swr-bridge-library"] and not loaded.webhooks[0].from_bridge


def test_a_bad_bridge_section_names_its_key(document):
    document["bridge"] = {"url": "bridge.example.com", "token_env": "not a name"}
    with pytest.raises(BridgeFileError) as caught:
        load_data(document)
    assert {key for key, _ in caught.value.problems} == {"bridge.url", "bridge.token_env"}


def test_apply_with_a_bridge_section_needs_the_intake_token_and_names_its_key(document, write, monkeypatch):
    document.pop("webhooks")
    document["bridge"] = {"url": "https://bridge.example.com", "intake_token_env": "NO_SUCH_TOKEN_ENV"}
    monkeypatch.delenv("NO_SUCH_TOKEN_ENV", raising=False)
    result = run("plan", "-f", write(document))
    assert result.exit_code == 2 and "bridge.intake_token_env: env variable NO_SUCH_TOKEN_ENV is not set" in result.output


def test_replicate_wait_on_a_bridge_needs_its_api_token_before_anything_starts(document, write, monkeypatch,
                                                                              harbor_double):
    document["bridge"] = {"url": "https://bridge.example.com", "token_env": "NO_SUCH_API_TOKEN"}
    monkeypatch.delenv("NO_SUCH_API_TOKEN", raising=False)
    result = run("replicate", "library-to-swr", "-f", write(document), "--wait")
    assert result.exit_code == 2 and "env variable NO_SUCH_API_TOKEN is not set" in result.output
    assert harbor_double.count("POST", "/replication/executions") == 0
