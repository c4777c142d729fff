"""Harbor's namespace replacement, first-match mapping rules, and the preview of where repositories land."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from adapter.swr.mapping import (
    MappingRule,
    MappingRuleSchema,
    map_repository,
    preview,
    replace_namespace,
)
from harbor_client.units import flatten_to_count


# harbor.md §2.4: the comment table in Harbor's stage.go (repository a/b/c/image, namespace n).
@pytest.mark.parametrize("count, expected", [
    (-1, "n/image"), (0, "n/a/b/c/image"), (1, "n/b/c/image"), (2, "n/c/image"), (3, "n/image"),
])
def test_harbor_table(count, expected):
    assert replace_namespace("a/b/c/image", "n", count) == expected


def test_harbor_table_count_4_is_harbors_error():
    with pytest.raises(ValueError) as info:
        replace_namespace("a/b/c/image", "n", 4)
    assert str(info.value) == (
        'the source repository "a/b/c/image" contains only 3 path components [a b c] excepting the last one, '
        "but the destination namespace flattening level is 4")


@pytest.mark.parametrize("repository, namespace, count, expected", [
    ("image", "n", -1, "n/image"),
    ("image", "n", 0, "n/image"),
    ("library/nginx", "dev-container", -1, "dev-container/nginx"),  # the OTC guide's example
    ("library/nginx", "dev-container", 1, "dev-container/nginx"),
    ("library/nginx", "ns/sub", 0, "ns/sub/library/nginx"),
    ("library/nginx", "ns/", 0, "ns/library/nginx"),  # Go's path.Join cleans the doubled slash
])
def test_more_replacements(repository, namespace, count, expected):
    assert replace_namespace(repository, namespace, count) == expected


def test_single_component_with_flatten_1_is_an_error():
    with pytest.raises(ValueError, match=r'"image" contains only 0 path components \[\]'):
        replace_namespace("image", "n", 1)


@pytest.mark.parametrize("count", [-1, 0, 1, 2, 3, 4])
def test_empty_namespace_is_identity_without_any_check(count):
    assert replace_namespace("a/b/c/image", "", count) == "a/b/c/image"


RULES = [
    MappingRule("library/**", "dev-container", -1),
    MappingRule("team-*/**", "teams", 0),
    MappingRule("**", "catch-all", 1),
]


@pytest.mark.parametrize("repository, expected", [
    ("library/nginx", "dev-container/nginx"),
    ("library/a/b/nginx", "dev-container/nginx"),
    ("team-x/app", "teams/team-x/app"),
    ("other/app", "catch-all/app"),
])
def test_first_match_wins(repository, expected):
    assert map_repository(RULES, repository) == expected


def test_identity_when_nothing_matches():
    assert map_repository([MappingRule("library/*", "n", -1)], "other/app") == "other/app"
    assert map_repository([], "a/b") == "a/b"


def test_rule_order_matters():
    rules = [MappingRule("**", "first", -1), MappingRule("library/**", "second", -1)]
    assert map_repository(rules, "library/nginx") == "first/nginx"


def test_preview_pairs_and_ok():
    result = preview([MappingRule("library/**", "dev-container", -1)], ["library/nginx", "library/redis"])
    assert result.pairs == [("library/nginx", "dev-container/nginx"), ("library/redis", "dev-container/redis")]
    assert result.ok and result.collisions == {} and result.violations == {} and result.errors == {}


def test_preview_reports_collisions():
    names = ["library/nginx", "mirror/nginx", "mirror/x/nginx", "library/redis"]
    result = preview([MappingRule("**", "flat", -1)], names)
    assert result.collisions == {"flat/nginx": ["library/nginx", "mirror/nginx", "mirror/x/nginx"]}
    assert not result.ok
    assert len(result.pairs) == 4


def test_preview_ignores_repeated_sources():
    result = preview([MappingRule("**", "flat", -1)], ["a/nginx", "a/nginx"])
    assert result.collisions == {} and result.pairs == [("a/nginx", "flat/nginx")]


def test_preview_reports_naming_violations_per_source():
    rules = [MappingRule("keep/**", "", -1), MappingRule("**", "Bad_Org", -1)]
    result = preview(rules, ["library/nginx", "x/Up", "keep/ok"])
    assert [(e.rule, e.part) for e in result.violations["library/nginx"]] == [
        ("organization.charset", "Bad_Org")]
    assert [(e.rule, e.part) for e in result.violations["x/Up"]] == [
        ("organization.charset", "Bad_Org"), ("repository.charset", "Up")]
    assert "keep/ok" not in result.violations
    assert ("keep/ok", "keep/ok") in result.pairs


def test_preview_identity_destination_checked_too():
    result = preview([], ["library/nginx", "single"])
    assert [e.rule for e in result.violations["library/nginx"]] == ["organization.reserved"]
    assert [e.rule for e in result.violations["single"]] == ["destination.depth"]


def test_preview_reports_flatten_errors_per_name_instead_of_raising():
    result = preview([MappingRule("**", "n", 2)], ["a/b/image", "image", "a/image"])
    assert result.pairs == [("a/b/image", "n/image")]
    assert set(result.errors) == {"image", "a/image"}
    assert "flattening level is 2" in result.errors["a/image"]
    assert not result.ok


@pytest.mark.parametrize("word, count", [
    ("all", -1), ("none", 0), ("1", 1), ("2", 2), ("3", 3), ("ALL", -1), (1, 1), (3, 3),
])
def test_flatten_words(word, count):
    assert flatten_to_count(word) == count
    assert MappingRuleSchema().load({"match": "**", "namespace": "n", "flatten": word}).flatten == count


@pytest.mark.parametrize("word", ["4", "some", -1, 0, "", True, None])
def test_bad_flatten_word(word):
    with pytest.raises(ValidationError) as info:
        MappingRuleSchema().load({"match": "**", "namespace": "n", "flatten": word})
    assert "flatten" in info.value.messages
    if word is not None:
        assert "all, none, 1, 2, 3" in str(info.value.messages["flatten"])


def test_schema_defaults_and_result():
    rule = MappingRuleSchema().load({"match": "library/**", "namespace": "dev"})
    assert rule == MappingRule("library/**", "dev", -1)


@pytest.mark.parametrize("data, key", [
    ({"namespace": "n"}, "match"),
    ({"match": "", "namespace": "n"}, "match"),
    ({"match": "[", "namespace": "n"}, "match"),
    ({"match": "**"}, "namespace"),
    ({"match": "**", "namespace": "n", "extra": 1}, "extra"),
])
def test_schema_rejects(data, key):
    with pytest.raises(ValidationError) as info:
        MappingRuleSchema().load(data)
    assert key in info.value.messages


def test_schema_bad_glob_message_is_clear():
    with pytest.raises(ValidationError) as info:
        MappingRuleSchema().load({"match": "library/[abc", "namespace": "n"})
    assert "never closed" in str(info.value.messages["match"])
