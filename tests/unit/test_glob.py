"""Doublestar v1 glob matching, as Harbor's name/tag filters use it (harbor.md §2.5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.swr import glob
from adapter.swr.glob import GlobPatternError, compile_glob, glob_match, translate

# Harbor src/pkg/reg/util/pattern_test.go, as summarised in harbor.md §2.5.
HARBOR_CASES = [
    ("", "library/hello-world", True),
    ("", "", True),
    ("*", "library/hello-world", False),
    ("**", "library/hello-world", True),
    ("{library,harbor}/**", "library/hello-world", True),
    ("{library,harbor}/**", "harbor/hello-world", True),
    ("{library,harbor}/**", "other/hello-world", False),
    ("1.?", "1.0", True),
    ("1.?", "1.01", False),
    ("v2.[4-7].*", "v2.7.0", True),
    ("v2.[4-7].*", "v2.8.0", False),
]

# Behaviour of bmatcuk/doublestar v1.3.4 Match() (its matchTests table, patterns that are well formed).
DOUBLESTAR_CASES = [
    ("*", "", True), ("*", "/", False), ("/*", "/", True), ("/*", "/debug/", False), ("/*", "//", False),
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("*/", "a/", True),
    ("a*", "a", True), ("a*", "abc", True), ("a*", "ab/c", False), ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*", "axbxcxdxe", True), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False), ("ab[^e-g]", "abc", True),
    ("a\\*b", "ab", False), ("a\\*b", "a*b", True), ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False), ("a?b", "a/b", False),
    ("a*b", "a/b", False), ("[\\]a]", "]", True), ("[\\-]", "-", True), ("[x\\-]", "x", True),
    ("[x\\-]", "-", True), ("[x\\-]", "z", False), ("[\\-x]", "-", True), ("[\\-x]", "a", False),
    ("*x", "xxx", True), ("[abc]", "b", True),
    ("a/**", "a", False), ("a/**", "a/", True), ("a/**", "a/b", True), ("a/**", "a/b/c", True),
    ("**/c", "c", True), ("**/c", "b/c", True), ("**/c", "a/b/c", True), ("**/c", "a/b", False),
    ("**/c", "abcd", False), ("**/c", "a/abc", False), ("a/**/b", "a/b", True), ("a/**/c", "a/b/c", True),
    ("a/**/d", "a/b/c/d", True), ("a/\\**", "a/b/c", False), ("a//b/c", "a/b/c", False),
    ("a/b/c", "a/b//c", False), ("a/", "a", False),
    ("ab{c,d}", "abc", True), ("ab{c,d,*}", "abcde", True), ("a{,bc}", "a", True), ("a{,bc}", "abc", True),
    ("a/{b/c,c/b}", "a/b/c", True), ("a/{b/c,c/b}", "a/c/b", True), ("{a/{b,c},abc}", "a/b", True),
    ("{a/{b,c},abc}", "a/c", True), ("{a/{b,c},abc}", "abc", True), ("{a/{b,c},abc}", "a/b/c", False),
    ("{a/ab*}", "a/abc", True), ("{a/*}", "a/b", True), ("{a/b,a/c}", "a/c", True), ("abc/**", "abc/b", True),
    ("**/abc", "abc", True), ("abc**", "abc/b", False), ("abc**", "abcdef", True),
    ("**/*.txt", "abc/【test】.txt", True), ("**/【*", "abc/【test】.txt", True),
]

# Where "**" is a whole path component and where it only acts as "*" (traced through v1.3.4's code).
GLOBSTAR_CASES = [
    ("**/**", "", True), ("**/**", "x/y", True), ("/**", "/", True), ("/**", "/a/b", True),
    ("a/**/", "a/", True), ("a/**/", "a/b/", True), ("a/**/", "a/b", False), ("a/**/b", "a//b", True),
    ("{a/**,b}/c", "a/c", True), ("{a/**,b}/c", "a/x/y/c", True), ("{a/**,b}/c", "b/c", True),
    ("{a/**,b}/c", "b/x/c", False),
    ("x/{**,y}/z", "x/q/z", True), ("x/{**,y}/z", "x/z", False), ("x/{**,y}/z", "x/a/b/z", False),
    ("{**,b}", "a/b", False), ("{**,b}", "abc", True), ("{,a}**", "x/y", False),
    ("{a/,b}**", "a/x/y", True), ("{a/,b}**", "bxy", True), ("{a/,b}**", "b/x", False),
    ("a/**x", "a/bx", True), ("a/**x", "a/b/x", False), ("***", "a/b", False), ("***", "ab", True),
]

# Deliberate choices where v1.3.4 is silent or odd: "[!a]" negates like "[^a]" (v1.3.4 reads "!" as a
# literal), and an escaped "\/" is a "/" (v1.3.4 never matches it, names being split on "/").
EXTRA_CASES = [
    ("library/*", "library/nginx", True), ("library/*", "library/a/nginx", False),
    ("library/**", "library/a/nginx", True), ("**/nginx", "library/nginx", True),
    ("[!a]bc", "xbc", True), ("[!a]bc", "abc", False), ("[!a]bc", "!bc", True), ("[!a-c]x", "bx", False),
    ("[^/]x", "/x", False), ("[!.-0]", "/", False), ("[.-0]", "/", False), ("[.-0]", ".", True),
    ("?", "/", False), ("{a,{b,{c,d}}}", "d", True), ("{a,{b,{c,d}}}", "e", False),
    ("\\{a\\}", "{a}", True), ("\\?", "?", True), ("\\?", "x", False), ("a\\/b", "a/b", True),
    ("a,b", "a,b", True), ("a}b", "a}b", True), ("a.b", "axb", False), ("(a|b)+", "(a|b)+", True),
    ("*", "line\nbreak", True), ("**", "a\nb/c", True), ("ü*", "über", True), ("v[0-9].?", "v1.x", True),
]


@pytest.mark.parametrize("pattern, name, expected", HARBOR_CASES + DOUBLESTAR_CASES + GLOBSTAR_CASES + EXTRA_CASES)
def test_glob_match(pattern, name, expected):
    assert glob_match(pattern, name) is expected


@pytest.mark.parametrize("pattern, needle", [
    ("[", "never closed"), ("[^", "never closed"), ("[^bc", "never closed"), ("a[", "never closed"),
    ("ab{c,d}[", "never closed"), ("[]a]", "empty character class"), ("[^]", "empty character class"),
    ("[-]", "'-' must follow"), ("[-x]", "'-' must follow"), ("[x-]", "has no end"), ("[a-b-c]", "'-' must follow"),
    ("[z-a]", "reversed"), ("\\", "trailing backslash"), ("a\\", "trailing backslash"), ("[a\\]", "never closed"),
    ("{a,b", "never closed"), ("{a,{b}", "never closed"), ("x/{", "never closed"),
])
def test_malformed_pattern_raises_value_error(pattern, needle):
    with pytest.raises(ValueError, match=needle) as info:
        glob_match(pattern, "anything")
    assert isinstance(info.value, GlobPatternError)
    assert repr(pattern) in str(info.value)


def test_error_names_the_position():
    with pytest.raises(GlobPatternError) as info:
        compile_glob("library/[abc")
    assert info.value.position == 8 and "position 8" in str(info.value)


def test_brace_explosion_is_refused():
    with pytest.raises(GlobPatternError, match="alternatives"):
        compile_glob("{a,b,c,d}" * 5)
    assert glob_match("{a,b,c,d}" * 3, "abc")


def test_compiled_patterns_are_cached():
    assert compile_glob("library/**") is compile_glob("library/**")


def test_translate_shapes():
    assert translate("") == ".*"
    assert translate("**") == ".*"
    assert translate("a/**/b") == "a/(?:.*/)?b"
    assert translate("a*") == "a[^/]*"


# --- patterns with many wildcards run without backtracking -------------------------------------------------
_PIECES = ["a", "b", "/", "*", "**", "?", "[ab]", "[^a]", "{a,b/}", "{**,b}", "-"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), st.text(alphabet="ab/-", max_size=12))
def test_the_backtracking_free_matcher_agrees_with_the_regex(pattern, name):
    try:
        regex = compile_glob(pattern)
    except GlobPatternError:
        return
    flats = glob._flats(pattern) if pattern else []
    assert glob._Program(flats).fullmatch(name) == bool(regex.fullmatch(name)) or pattern == ""


@pytest.mark.parametrize("pattern, name, expected", HARBOR_CASES + DOUBLESTAR_CASES + GLOBSTAR_CASES + EXTRA_CASES)
def test_the_backtracking_free_matcher_passes_the_reference_cases(pattern, name, expected):
    if pattern:  # "" is matched by its regex alone
        assert glob._Program(glob._flats(pattern)).fullmatch(name) is expected


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("a*" * 8 + "x", "a" * 250, False),
    ("*-" * 10 + "x", "a-" * 120, False),
    ("*-" * 10 + "x", "a-" * 120 + "x", True),
    ("*" * 999 + "/b", "a" * 250 + "/b", True),
    ("**/" * 20 + "x", "a/" * 100 + "y", False),
])
def test_a_pattern_with_many_wildcards_is_matched_without_backtracking(pattern, name, matches):
    # Python's re took about n^(k+1) steps for k wildcards: the first of these ran for hours, at every push
    # whose repository a mapping rule with that `match:` was tried on.
    assert isinstance(glob._matcher(pattern), glob._Program)
    assert glob_match(pattern, name) is matches
