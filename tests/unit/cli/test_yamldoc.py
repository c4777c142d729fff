"""parse_yaml: libyaml's speed with the pure-Python parser's answers and error marks."""

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from provisioning import yamldoc
from provisioning.yamldoc import YamlSyntaxError, parse_yaml

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                    st.floats(allow_nan=False, allow_infinity=False))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


def test_the_c_loader_is_the_one_in_use():
    # The wheels bundle libyaml; losing it would silently cost every CLI start its parse time.
    assert yaml.__with_libyaml__ and yamldoc._LOADER is yaml.CSafeLoader


@given(documents, st.sampled_from([False, True]))
def test_it_reads_what_safe_load_reads(doc, flow):
    text = yaml.safe_dump(doc, default_flow_style=flow)
    assert parse_yaml(text) == yaml.safe_load(text)


def test_yaml_specials_come_out_as_safe_load_gives_them():
    text = "base: &b {x: 1}\nderived: *b\nwhen: 2026-12-04\non: yes\noctal: 0o17\n"
    assert parse_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["harbor: {url: [\n", "harbor: {url: [", "a: 1\n  b: 2\n", "a: [1, 2\nb: 3\n"])
def test_errors_name_the_place_the_python_parser_names(text):
    with pytest.raises(yaml.YAMLError) as python:
        yaml.safe_load(text)
    mark = python.value.problem_mark
    with pytest.raises(YamlSyntaxError) as info:
        parse_yaml(text)
    assert str(info.value) == (f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: "
                               f"{python.value.problem}")


@pytest.mark.parametrize(("text", "reason"), [
    ("a: " + "[" * 5000 + "]" * 5000, "not valid YAML: nested too deeply"),
    ("a: " + "9" * 5000, "a value cannot be read (Exceeds the limit (4300 digits) for integer string conversion)"),
    ("when: 2026-13-45", "a value cannot be read (month must be in 1..12)"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(5)),
     "aliases expand the document to 1234567 nodes, 1234550 of them repeated"),
    ("a: &a {b: *a}", "an alias inside its own anchor"),
])
def test_what_no_consumer_could_walk_is_a_syntax_error(text, reason):
    # Each was a traceback (RecursionError, ValueError) or, for the bombs, hours over the expanded data.
    with pytest.raises(YamlSyntaxError) as info:
        parse_yaml(text)
    assert reason in str(info.value)


def test_aliases_may_repeat_up_to_the_limit():
    block = "{" + ", ".join(f"k{i}: v" for i in range(100)) + "}"
    text = f"base: &b {block}\n" + "".join(f"r{i}: *b\n" for i in range(yamldoc.MAX_ALIAS_NODES // 101))
    assert len(parse_yaml(text)) == yamldoc.MAX_ALIAS_NODES // 101 + 1
