"""The Dockerfile, parsed with dockerfile-parse: multi-stage on a slim Python, non-root, runtime
dependencies only, HEALTHCHECK and EXPOSE 8080, and the CMD the tests themselves start."""

import fnmatch
import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.specifiers import SpecifierSet

from tests.integration import endpoint
from tests.unit.ops.kustomize import render

ROOT = Path(__file__).resolve().parents[3]
CMD = ["swr-bridge", "serve", "--config", "/etc/swr-bridge/swr-bridge.yaml"]


@pytest.fixture(scope="module")
def parsed():
    return DockerfileParser(str(ROOT / "Dockerfile"))


def stages(parsed) -> list[list[dict]]:
    """The instructions of each stage (a FROM starts one)."""
    out = []
    for item in parsed.structure:
        if item["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(item)
    return out


def final(parsed) -> list[dict]:
    return stages(parsed)[-1]


def values(stage, instruction) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == instruction]


def exec_form(value: str) -> list[str]:
    return json.loads(value)


def test_it_parses_as_a_multi_stage_build_on_slim_python(parsed):
    assert len(stages(parsed)) >= 2
    args = {k: v for k, v in (a.split("=", 1) for a in values(parsed.structure, "ARG"))}
    for stage in stages(parsed):
        image = stage[0]["value"].split()[0].replace("${PYTHON_VERSION}", args["PYTHON_VERSION"])
        assert image.startswith("python:") and image.endswith("-slim"), image
    project = (ROOT / "pyproject.toml").read_text()
    requires = next(line.split("=", 1)[1].strip().strip('"') for line in project.splitlines()
                    if line.startswith("requires-python"))
    assert args["PYTHON_VERSION"] + ".0" in SpecifierSet(requires)


def test_the_runtime_user_is_not_root(parsed):
    [user] = values(final(parsed), "USER")
    name = user.split(":")[0]
    assert name not in ("root", "0", "")
    assert name.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"
    pod = next(o for o in render(ROOT / "deploy" / "base") if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(name)
    created = " ".join(values(final(parsed), "RUN"))
    assert f"--uid {name}" in created


def test_cmd_is_the_command_line_the_tests_start(parsed, monkeypatch, tmp_path):
    assert exec_form(final(parsed)[-1]["value"]) == CMD and final(parsed)[-1]["instruction"] == "CMD"
    assert json.loads(parsed.cmd) == CMD

    started = []

    class Stop(Exception):
        pass

    def fake_popen(argv, **kwargs):
        started.append(argv)
        raise Stop

    class Sandbox:
        registry_url = api_url = "http://127.0.0.1:9"

    monkeypatch.setattr(endpoint.subprocess, "Popen", fake_popen)
    with pytest.raises(Stop):
        endpoint.Endpoint(tmp_path, Sandbox()).start()
    [argv] = started
    assert [Path(argv[0]).name, *argv[1:-1]] == CMD[:-1]


def test_the_config_file_is_in_the_image_and_mounted_over_in_kubernetes(parsed):
    copies = [v.split() for v in values(final(parsed), "COPY") if not v.startswith("--from")]
    assert ["deploy/swr-bridge.yaml", CMD[-1]] in copies
    deployment = next(o for o in render(ROOT / "deploy" / "base") if o["kind"] == "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "command" not in container and "args" not in container  # the image's CMD runs
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert str(Path(CMD[-1]).parent) in mounts


def test_healthcheck_and_port(parsed):
    [expose] = values(final(parsed), "EXPOSE")
    assert expose.split() == ["8080"]
    [check] = values(final(parsed), "HEALTHCHECK")
    options, _, command = check.partition("CMD")
    assert "--interval" in options and "--timeout" in options
    assert exec_form(command.strip()) == ["python", "-m", "adapter.health"]
    env = parsed.envs
    assert env["SWR_BRIDGE_PORT"] == "8080"  # where adapter.health probes
    config = yaml.safe_load((ROOT / "deploy" / "swr-bridge.yaml").read_text())
    assert config["listen"] == "0.0.0.0:8080"


def test_runtime_dependencies_only(parsed):
    runs = " ".join(values(parsed.structure, "RUN"))
    installs = [shlex.split(part.split("pip install", 1)[1])[0] for part in runs.split("&&") if "pip install" in part]
    assert installs == ["."], "the package alone, without its [test] extra"
    sources = [v.split()[:-1] for v in values(parsed.structure, "COPY") if not v.startswith("--from")]
    assert not any(s.startswith("tests") for src in sources for s in src)
    # the final stage copies the built environment, not the sources
    assert any(v.startswith("--from=build") for v in values(final(parsed), "COPY"))
    assert not any(v.split()[0] in ("adapter", ".") for v in values(final(parsed), "COPY"))


def dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            ignored = not negate
    return ignored


def test_everything_copied_survives_dockerignore(parsed):
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for value in values(parsed.structure, "COPY"):
        if value.startswith("--from"):
            continue
        for source in value.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert not dockerignored(source, patterns), f"{source} is excluded by .dockerignore"
    assert dockerignored("tests/conftest.py", patterns)
    assert dockerignored(".venv/bin/python", patterns)
    assert not dockerignored("adapter/metrics.py", patterns)


def test_the_default_config_in_the_image_passes_serve_check():
    result = subprocess.run([endpoint.SWR_BRIDGE, "serve", "--check", "--config",
                             str(ROOT / "deploy" / "swr-bridge.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
