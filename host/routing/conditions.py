"""The conditions of `route-if` / `route-if-not`: `NAME:ARGS`, where ARGS are expanded with the
route variables; the two-operand forms split ARGS at the first `;` (`equal:${HTTPS};on`).

Each builder gets ARGS at start-up and returns a test of the request context: True when the
condition holds. `regexp` compiles its pattern once (uWSGI compiles it per request) and its
groups become the action's `$1`..`$9`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.routing.template import Template

if TYPE_CHECKING:
    from polyhost.routing.context import RouteContext

Test = Callable[["RouteContext"], bool]


class RuleError(ValueError):
    """A rule that cannot be built; the parser adds the file:line."""


def _one(check: Callable[[str], bool]) -> Callable[[str], Test]:
    """A test of the file system on one path (False for a path no file can have: NUL ...)."""

    def build(args: str) -> Test:
        template = Template(args)

        def test(ctx: RouteContext) -> bool:
            try:
                return check(os.fsdecode(template.render(ctx).encode("latin-1")))
            except (ValueError, OSError):
                return False

        return test

    return build


def _two(compare: Callable[[str, str], bool]) -> Callable[[str], Test]:
    def build(args: str) -> Test:
        left, semicolon, right = args.partition(";")
        if not semicolon:
            raise RuleError(f"the condition needs two operands separated by ';', got {args!r}")
        first, second = Template(left), Template(right)
        return lambda ctx: compare(first.render(ctx), second.render(ctx))

    return build


def _regexp(args: str) -> Test:
    subject, semicolon, pattern = args.partition(";")
    if not semicolon:
        raise RuleError(f"regexp needs SUBJECT;PATTERN, got {args!r}")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise RuleError(f"bad regexp {pattern!r}: {exc}") from None
    template = Template(subject)

    def test(ctx: RouteContext) -> bool:
        match = compiled.search(template.render(ctx))
        if match is None:
            return False
        ctx.captures = (match.group(0), *match.groups())
        return True

    return test


def _strtol(text: str) -> int:
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group(0)) if match else 0


def _numeric(compare: Callable[[int, int], bool]) -> Callable[[str], Test]:
    return _two(lambda a, b: compare(_strtol(a), _strtol(b)))


def _ip_in(version: int) -> Callable[[str, str], bool]:
    def inside(address: str, network: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
            net = ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            return False
        return ip.version == version == net.version and ip in net

    return inside


def _empty(args: str) -> Test:
    template = Template(args)
    return lambda ctx: not template.render(ctx)


def _isexec(path: str) -> bool:
    return os.access(path, os.X_OK)


CONDITIONS: dict[str, Callable[[str], Test]] = {
    "exists": _one(os.path.exists),
    "isfile": _one(os.path.isfile),
    "isdir": _one(os.path.isdir),
    "islink": _one(os.path.islink),
    "isexec": _one(_isexec),
    "empty": _empty,
    "equal": _two(str.__eq__),
    "startswith": _two(str.startswith),
    "endswith": _two(str.endswith),
    "contains": _two(lambda a, b: b in a),
    "regexp": _regexp,
    "ishigher": _numeric(int.__gt__),
    "islower": _numeric(int.__lt__),
    "ishigherequal": _numeric(int.__ge__),
    "islowerequal": _numeric(int.__le__),
    "ipv4in": _two(_ip_in(4)),
    "ipv6in": _two(_ip_in(6)),
}
for _alias, _name in {
    "isequal": "equal",
    "eq": "equal",
    "==": "equal",
    "re": "regexp",
    ">": "ishigher",
    "<": "islower",
    ">=": "ishigherequal",
    "<=": "islowerequal",
    "contain": "contains",
}.items():
    CONDITIONS[_alias] = CONDITIONS[_name]
