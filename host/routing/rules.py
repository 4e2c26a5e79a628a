"""The routing table: the `route*`, `error-route*`, `response-route*` and `final-route*` options
parsed once at start-up into four chains of compiled rules, and the loop that runs a chain on
one request (uWSGI's uwsgi_apply_routes_do).

A rule is a subject (a request var matched with a regexp, a condition, a status, or none for
`route-run`) and an action. Labels mark where `goto:` may jump (forward only, as uWSGI). Bad
rules are ConfigErrors naming the file:line and the nearest known action or condition.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from polyhost.config.model import ConfigError
from polyhost.log import log
from polyhost.routing import PREFIXES
from polyhost.routing.actions import Action, Builder
from polyhost.routing.conditions import RuleError, Test
from polyhost.routing.context import BREAK, CONTINUE, NEXT, RouteContext

#: the chains, by option prefix, in the order uWSGI dumps them
CHAINS = ("request", "error", "response", "final")
#: `route-SUFFIX`: the request var a regexp is matched on (as uWSGI's dump names it)
SUBJECTS = {
    "": ("PATH_INFO", "path_info"),
    "-host": ("HTTP_HOST", "http_host"),
    "-uri": ("REQUEST_URI", "request_uri"),
    "-qs": ("QUERY_STRING", "query_string"),
    "-remote-addr": ("REMOTE_ADDR", "remote_addr"),
    "-user-agent": ("HTTP_USER_AGENT", "user_agent"),
    "-referer": ("HTTP_REFERER", "referer"),
    "-remote-user": ("REMOTE_USER", "remote_user"),
}
#: patterns that cannot share one alternation with others (their group numbers would shift)
_GROUP_REFERENCES = re.compile(r"\\[1-9]|\(\?P=|\(\?\(|\\g<")
#: consecutive regexps on one var tested with one search first, from this many on
_PREFILTER_MIN = 3


class RoutingError(ConfigError, ValueError):
    """A rule that cannot be compiled: the message names the file:line and the fix."""


@dataclass(slots=True)
class Rule:
    """One compiled rule (a label has only `label`)."""

    pos: int
    option: str
    label: str | None = None
    subject: str | None = None
    pattern: re.Pattern[str] | None = None
    test: Test | None = None
    negate: bool = False
    action: Action | None = None
    action_text: str = ""
    #: how uWSGI's table dump shows the subject
    dump_subject: str = ""
    dump_kind: str = ""


@dataclass
class Chain:
    """The rules of one chain, with labels resolved and prefilters for runs of regexps."""

    name: str
    rules: list[Rule] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    #: index of the first rule of a run of plain regexps on one var -> (var, any-of, end)
    prefilters: dict[int, tuple[str, re.Pattern[str], int]] = field(default_factory=dict)
    #: when every rule is a plain regexp: (var, pattern) pairs one of which must match for any
    #: rule to run; None when the chain has labels, conditions or route-run rules
    gate: list[tuple[str, re.Pattern[str]]] | None = None

    def __bool__(self) -> bool:
        return bool(self.rules)

    def finish(self) -> None:
        self.labels = {r.label: r.pos for r in self.rules if r.label is not None}
        if self.rules and all(r.pattern is not None for r in self.rules):
            by_var: dict[str, list[str]] = {}
            self.gate = []
            for rule in self.rules:
                pattern = rule.pattern.pattern  # type: ignore[union-attr]
                if _GROUP_REFERENCES.search(pattern):
                    self.gate.append((rule.subject, rule.pattern))  # type: ignore[arg-type]
                else:
                    by_var.setdefault(rule.subject, []).append(pattern)  # type: ignore[arg-type]
            for var, patterns in by_var.items():
                self.gate += _any_of(var, patterns)
        start = 0
        while start < len(self.rules):
            end = start
            first = self.rules[start]
            while (
                end < len(self.rules)
                and self.rules[end].pattern is not None
                and self.rules[end].subject == first.subject
                and not _GROUP_REFERENCES.search(self.rules[end].pattern.pattern)  # type: ignore[union-attr]
            ):
                end += 1
            if end - start >= _PREFILTER_MIN and first.subject is not None:
                patterns = [r.pattern.pattern for r in self.rules[start:end]]  # type: ignore[union-attr]
                any_of = _any_of(first.subject, patterns)
                if len(any_of) == 1:
                    self.prefilters[start] = (first.subject, any_of[0][1], end)
            start = max(end, start + 1)

    def may_apply(self, env: dict[str, str]) -> bool:
        """False when no rule of the chain can run on these vars (then the chain is a no-op)."""
        gate = self.gate
        if gate is None:
            return True
        for var, pattern in gate:  # noqa: SIM110 - any() over a generator costs a frame per call
            if pattern.search(env.get(var, "")) is not None:
                return True
        return False

    def dump(self) -> list[str]:
        title = "" if self.name == "request" else f"{self.name} "
        lines = [f"*** dumping internal {title}routing table ***"]
        for rule in self.rules:
            if rule.label is not None:
                lines.append(f"[rule: {rule.pos}] label: {rule.label}")
            elif not rule.dump_kind:
                lines.append(f"[rule: {rule.pos}] action: {rule.action_text}")
            else:
                lines.append(
                    f"[rule: {rule.pos}] subject: {rule.dump_subject} {rule.dump_kind} "
                    f"action: {rule.action_text}"
                )
        lines.append(f"*** end of the internal {title}routing table ***")
        return lines


def _any_of(var: str, patterns: list[str]) -> list[tuple[str, re.Pattern[str]]]:
    """One alternation of the patterns, or each one alone if they cannot share one."""
    try:
        return [(var, re.compile("|".join(f"(?:{p})" for p in patterns)))]
    except re.error:
        return [(var, re.compile(p)) for p in patterns]


def run(chain: Chain, ctx: RouteContext) -> int:
    """Apply `chain` to the request: CONTINUE (serve it) or BREAK (it has been answered)."""
    rules = chain.rules
    prefilters = chain.prefilters
    count = len(rules)
    i = 0
    while i < count:
        if prefilters:
            skip = prefilters.get(i)
            if skip is not None and skip[1].search(ctx.vars.get(skip[0], "")) is None:
                i = skip[2]
                continue
        rule = rules[i]
        i += 1
        if rule.label is not None:
            continue
        if rule.pattern is not None:
            match = rule.pattern.search(ctx.vars.get(rule.subject, ""))  # type: ignore[arg-type]
            if match is None:
                continue
            ctx.captures = (match.group(0), *match.groups())
        elif rule.test is not None:
            ctx.captures = ()
            if rule.test(ctx) is rule.negate:
                continue
        outcome = rule.action(ctx)  # type: ignore[misc]
        if outcome == BREAK:
            ctx.routed = True
            return BREAK
        if outcome == CONTINUE:
            return CONTINUE
        target = ctx.jump
        if target is not None:
            ctx.jump = None
            to = chain.labels.get(target)
            if to is None:
                to = int(target) if target.isdigit() else 0
            if to <= rule.pos:
                log(
                    '[uwsgi-route] ERROR "goto" instruction can only jump forward '
                    "(check your label !!!)"
                )
                return BREAK
            i = to
    return CONTINUE


class RoutingTable:
    """The four chains of an instance."""

    def __init__(self) -> None:
        self.chains = {name: Chain(name) for name in CHAINS}
        #: `collect-header` / `pull-header`: response header (lower case) -> (var, pull)
        self.collect: dict[str, tuple[str, bool]] = {}

    @property
    def request(self) -> Chain:
        return self.chains["request"]

    @property
    def error(self) -> Chain:
        return self.chains["error"]

    @property
    def response(self) -> Chain:
        return self.chains["response"]

    @property
    def final(self) -> Chain:
        return self.chains["final"]

    def __bool__(self) -> bool:
        return any(self.chains.values()) or bool(self.collect)

    def dump(self) -> list[str]:
        return [line for chain in self.chains.values() if chain for line in chain.dump()]


def build_table(
    entries: Iterable[tuple[str, str, str]],
    actions: dict[str, Builder],
    conditions: dict[str, Callable[[str], Test]],
) -> RoutingTable:
    """Compile (option name, value, origin) entries, in the order given."""
    table = RoutingTable()
    for option, value, origin in entries:
        chain_name, kind = "request", option
        for prefix, name in PREFIXES.items():
            if option.startswith(prefix):
                chain_name, kind = name, option[len(prefix) :]
                break
        chain = table.chains[chain_name]
        rule = Rule(pos=len(chain.rules), option=option)
        try:
            _fill(rule, kind[len("route") :], value, actions, conditions)
        except RuleError as exc:
            raise RoutingError(f"{origin}: {option} = {value}: {exc}") from None
        chain.rules.append(rule)
    for chain in table.chains.values():
        chain.finish()
    return table


def _fill(
    rule: Rule,
    suffix: str,
    value: str,
    actions: dict[str, Builder],
    conditions: dict[str, Callable[[str], Test]],
) -> None:
    if suffix == "-label":
        if not value.strip():
            raise RuleError("a label needs a name")
        rule.label = value.strip()
        return
    if suffix == "-run":
        _set_action(rule, value, actions)
        return
    head, space, action = value.partition(" ")
    if not space or not action.strip():
        raise RuleError("invalid route syntax: write SUBJECT ACTION:ARGS, e.g. ^/old redirect:/new")
    action = action.strip()
    if suffix in ("-if", "-if-not"):
        name, colon, args = head.partition(":")
        if not colon:
            raise RuleError(f"invalid route condition syntax: write CONDITION:ARGS, not {head!r}")
        build = conditions.get(name)
        if build is None:
            raise RuleError(f"unknown route condition {name!r}{_nearest(name, conditions)}")
        rule.test = build(args)
        rule.negate = suffix == "-if-not"
        rule.dump_subject = args
        rule.dump_kind = f"func: {'!' if rule.negate else ''}{name}"
    elif suffix == "-status":
        if not head.isdigit() or len(head) != 3:
            raise RuleError(f"a status route needs a 3-digit status, not {head!r}")
        code = int(head)
        rule.test = lambda ctx: ctx.status == code
        rule.dump_subject = head
        rule.dump_kind = f"func: {head}"
    elif suffix in SUBJECTS:
        var, dump_name = SUBJECTS[suffix]
        try:
            rule.pattern = re.compile(head)
        except re.error as exc:
            raise RuleError(f"bad regexp {head!r}: {exc}") from None
        rule.subject = var
        rule.dump_subject = dump_name
        rule.dump_kind = f"regexp: {head}"
    else:
        raise RuleError(f"unknown routing option {rule.option!r}")
    _set_action(rule, action, actions)


def _set_action(rule: Rule, text: str, actions: dict[str, Builder]) -> None:
    text = text.strip()
    name, colon, arg = text.partition(":")
    if not colon:
        hint = f" (write {name}: with a colon)" if name in actions else ""
        raise RuleError(f"invalid route syntax: the action {text!r} needs NAME:ARGS{hint}")
    build = actions.get(name)
    if build is None:
        raise RuleError(f"unknown route action {name!r}{_nearest(name, actions)}")
    rule.action = build(arg)
    rule.action_text = text


def _nearest(name: str, known: dict[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"


__all__ = [
    "BREAK",
    "CONTINUE",
    "NEXT",
    "Chain",
    "RoutingError",
    "RoutingTable",
    "Rule",
    "build_table",
    "run",
]
