"""Routes: which alerts an event or a final execution summary raises, with text from Jinja2 templates."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from jinja2 import FileSystemLoader, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from harbor_client.units import isotime

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("execution", "task", "event")


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str  # execution | task | event
    route: str
    status: str
    title: str
    text: str
    data: dict
    sinks: tuple[str, ...]
    execution_id: int | None = None
    event_id: int | None = None


def _duration(seconds) -> str:
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def make_environment() -> SandboxedEnvironment:
    # Sandboxed because route templates come from a config file that operators, not developers, write.
    env = SandboxedEnvironment(loader=FileSystemLoader(TEMPLATES), trim_blocks=True, lstrip_blocks=True,
                               autoescape=False)
    env.filters["duration"] = _duration
    env.filters["isotime"] = lambda epoch: isotime(int(epoch or 0))
    return env


@dataclass
class Route:
    name: str
    per: str
    sinks: tuple[str, ...]
    match: dict[str, tuple[str, ...]]
    title: object
    text: object

    def matches(self, facts: dict) -> bool:
        return all(any(fnmatch.fnmatchcase(str(facts.get(key) or ""), p) for p in patterns)
                   for key, patterns in self.match.items())

    def render(self, context: dict) -> tuple[str, str]:
        return self.title.render(context).strip(), self.text.render(context).strip()


class Router:
    """Compiled routes; raises ValueError naming the route when a template does not compile."""

    def __init__(self, routes: list[dict]):
        self.env = make_environment()
        defaults = {kind: (self.env.get_template(f"{kind}_title.j2"), self.env.get_template(f"{kind}_text.j2"))
                    for kind in KINDS}
        self.routes = [self._compile(i, conf, defaults) for i, conf in enumerate(routes)]

    def _compile(self, index: int, conf: dict, defaults) -> Route:
        name = conf.get("name") or f"route{index + 1}"
        title, text = defaults[conf["per"]]
        override = conf.get("template") or {}
        try:
            title = self.env.from_string(override["title"]) if "title" in override else title
            text = self.env.from_string(override["text"]) if "text" in override else text
        except TemplateError as exc:
            raise ValueError(f"routes.{index}.template: {exc}") from None
        match = dict(conf.get("match") or {})
        if conf["per"] == "task":
            match.setdefault("status", ("failed",))  # per task means one alert per failed task
        if conf["per"] != "event":
            match["event_type"] = ("REPLICATION",)
        return Route(name, conf["per"], tuple(conf["sinks"]), match, title, text)

    def wants(self, per: str) -> bool:
        return any(r.per == per for r in self.routes)

    def statuses(self, per: str) -> set[str] | None:
        """The statuses `per` routes can match (empty: no such route), or None when one takes any status.

        Lets the intake skip building an alert context for the many events no route can want.
        """
        found: set[str] = set()
        for route in self.routes:
            patterns = route.match.get("status") if route.per == per else ()
            if route.per == per and (not patterns or any(c in p for p in patterns for c in "*?[")):
                return None
            found.update(patterns)
        return found

    def alerts(self, per: str, key: str, context: dict, **ids) -> list[Alert]:
        """Alerts for `context` from every `per` route that matches it; `key` identifies the subject."""
        found = []
        for route in self.routes:
            if route.per == per and route.matches(context):
                title, text = _render(route, context)
                found.append(Alert(f"{per}:{key}:{route.name}", per, route.name, context.get("status") or "",
                                   title, text, context, route.sinks, **ids))
        return found


def _render(route: Route, context: dict) -> tuple[str, str]:
    try:
        return route.render(context)
    except Exception as exc:  # any failure of an operator's template, not only TemplateError
        # A template that fails on this data must not lose the alert: send the error in its place.
        return f"{context.get('status', 'alert')} ({route.name})", f"template error: {exc}"
