"""SWR organization / repository / tag rules and the OCI name grammar (swr.md §4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.swr import naming
from adapter.swr.naming import NamingError

VALID_ORGANIZATIONS = ["a", "org", "dev-container", "eu-de_otc", "a.b", "a__b", "a--b", "a-b-c", "x9",
                       "a" * 64, "a1.b2_c3-d4"]

BAD_ORGANIZATIONS = [
    ("", "organization.length"),
    ("a" * 65, "organization.length"),
    ("Org", "organization.charset"),
    ("or g", "organization.charset"),
    ("org/x", "organization.charset"),
    ("ünï", "organization.charset"),
    ("9org", "organization.start"),
    ("_org", "organization.start"),
    ("-org", "organization.start"),
    ("org-", "organization.end"),
    ("org.", "organization.end"),
    ("a._b", "organization.separators"),
    ("a-.b", "organization.separators"),
    ("a..b", "organization.separators"),
    ("a_-b", "organization.separators"),
    ("a___b", "organization.underscores"),
    ("library", "organization.reserved"),
]


@pytest.mark.parametrize("name", VALID_ORGANIZATIONS)
def test_valid_organization(name):
    naming.check_organization(name)
    assert naming.violations(f"{name}/repo") == []


@pytest.mark.parametrize("name, rule", BAD_ORGANIZATIONS)
def test_bad_organization(name, rule):
    with pytest.raises(NamingError) as info:
        naming.check_organization(name)
    err = info.value
    assert (err.rule, err.part) == (rule, name)
    assert rule in str(err) and repr(name) in str(err)
    assert isinstance(err, ValueError)


VALID_REPOSITORIES = ["nginx", "a/b/c", "hello-world", "a.b/c_d/e--f", "a__b", "0", "library/nginx",
                      "a" * 128, "/".join(["abc"] * 32)[:127]]

BAD_REPOSITORIES = [
    ("", "repository.length"),
    ("a" * 129, "repository.length"),
    ("Nginx", "repository.charset"),
    ("a b", "repository.charset"),
    ("a$b", "repository.charset"),
    ("a:b", "repository.charset"),
    ("/a", "repository.segment"),
    ("a/", "repository.segment"),
    ("a//b", "repository.segment"),
    ("a/.b", "repository.start"),
    ("_a", "repository.start"),
    ("a/b-", "repository.end"),
    ("a_/b", "repository.end"),
    ("a/b._c", "repository.separators"),
    ("a/b___c", "repository.underscores"),
]


@pytest.mark.parametrize("name", VALID_REPOSITORIES)
def test_valid_repository(name):
    naming.check_repository(name)


@pytest.mark.parametrize("name, rule", BAD_REPOSITORIES)
def test_bad_repository(name, rule):
    with pytest.raises(NamingError) as info:
        naming.check_repository(name)
    assert (info.value.rule, info.value.part) == (rule, name)
    assert rule in str(info.value)


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "_x", "1", "A-b_C.d", "a" * 128, "sha256-abc"])
def test_valid_tag(tag):
    naming.check_tag(tag)


@pytest.mark.parametrize("tag, rule", [
    ("", "tag.length"),
    ("a" * 129, "tag.length"),
    (".hidden", "tag.start"),
    ("-x", "tag.start"),
    ("v1+build", "tag.charset"),
    ("a:b", "tag.charset"),
    ("ü", "tag.start"),
])
def test_bad_tag(tag, rule):
    with pytest.raises(NamingError) as info:
        naming.check_tag(tag)
    assert (info.value.rule, info.value.part) == (rule, tag)


@pytest.mark.parametrize("name, ok", [
    ("a/b", True), ("a-b/c--d", True), ("a__b", True), ("a.b", True), ("a---b", True),
    ("A/b", False), ("a//b", False), ("-a", False), ("a___b", False), ("a._b", False), ("", False),
])
def test_oci_component_grammar(name, ok):
    if ok:
        naming.check_oci_name(name)
    else:
        with pytest.raises(NamingError) as info:
            naming.check_oci_name(name)
        assert info.value.rule == "name.component"


def test_oci_name_length_limit():
    naming.check_oci_name("/".join(["a" * 63] * 4))  # 255
    with pytest.raises(NamingError) as info:
        naming.check_oci_name("/".join(["a" * 63] * 4) + "a")
    assert info.value.rule == "name.length"


@pytest.mark.parametrize("full_name, rule, part", [
    ("org", "destination.depth", "org"),
    ("org/", "destination.depth", "org/"),
    ("Org/nginx", "organization.charset", "Org"),
    ("library/nginx", "organization.reserved", "library"),
    ("org/Nginx", "repository.charset", "Nginx"),
    ("org/a//b", "repository.segment", "a//b"),
    ("9/x", "organization.start", "9"),
])
def test_check_destination(full_name, rule, part):
    with pytest.raises(NamingError) as info:
        naming.check_destination(full_name)
    assert (info.value.rule, info.value.part) == (rule, part)


@pytest.mark.parametrize("full_name", ["org/nginx", "dev-container/a/b/c", "eu-de_otc/x.y"])
def test_check_destination_accepts(full_name):
    naming.check_destination(full_name)


def test_violations_collect_every_rule_instead_of_raising():
    found = naming.violations("Org/a//B", tag=".x y")
    assert [(e.rule, e.part) for e in found] == [
        ("organization.charset", "Org"),
        ("repository.charset", "a//B"),
        ("tag.start", ".x y"),
        ("tag.charset", ".x y"),
    ]


def test_violations_of_a_long_bad_name_report_length_and_shape():
    rules = [e.rule for e in naming.violations("o" * 65 + "-/x")]
    assert rules == ["organization.length", "organization.end"]


def test_violations_empty_for_a_good_destination_and_tag():
    assert naming.violations("org/app", tag="v1") == []
    assert [e.rule for e in naming.violations("org")] == ["destination.depth"]


# The rule-by-rule diagnosis must describe exactly the language of the one-line regexes.
ALPHABET = st.text(alphabet="ab0._-/A ", max_size=12)


@settings(max_examples=400, deadline=None)
@given(ALPHABET)
def test_organization_rules_equal_the_regex(name):
    expected = bool(naming.ORGANIZATION_RE.fullmatch(name)) and len(name) <= 64
    errors = [e for e in naming._organization_errors(name) if e.rule != "organization.reserved"]
    assert (not errors) == expected


@settings(max_examples=400, deadline=None)
@given(ALPHABET)
def test_repository_rules_equal_the_regex(name):
    expected = all(naming.SEGMENT_RE.fullmatch(seg) for seg in name.split("/")) and 0 < len(name) <= 128
    assert (not list(naming._repository_errors(name))) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ9._-+ :", max_size=130))
def test_tag_rules_equal_the_regex(tag):
    assert (not list(naming._tag_errors(tag))) == bool(naming.TAG_RE.fullmatch(tag))


@settings(max_examples=300, deadline=None)
@given(ALPHABET)
def test_swr_rules_are_stricter_than_oci(name):
    if not naming.violations(f"org/{name}"):
        naming.check_oci_name(f"org/{name}")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", ["a" * 60 + "!", "ab-" * 40 + "!", "a_" * 50 + "A"])
def test_long_invalid_names_are_refused_without_catastrophic_backtracking(name):
    # The spec's `[-]*` separator backtracks exponentially in Python's re; this would never finish.
    with pytest.raises(naming.NamingError):
        naming.check_oci_name(name)
    assert naming.violations("org/" + name)
