"""Action arguments with uWSGI's route variables, compiled once at start-up.

`$0`..`$9` are the groups of the rule's regexp (or of a `regexp:` condition), `${NAME}` a request
var, `${FUNC[ARG]}` a route variable function (`cookie`, `qs`, `mime`, `time`, `httptime`,
`math`, `base64`, `hex`, `uwsgi`, `xattr`, `upper`, `lower`). A missing var or group expands to
"". Unlike uWSGI, captured text is not expanded a second time, so a client cannot smuggle
`${...}` into an argument through the URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.routing.routevars import FUNCTIONS

if TYPE_CHECKING:
    from polyhost.routing.context import RouteContext

#: `$N`, or `${...}` (no nesting, as uWSGI)
_TOKEN = re.compile(r"\$(?:(\d)|\{([^}]*)\})")
#: a compiled piece: a literal, or a function of the context
Piece = str | Callable[["RouteContext"], str]


class Template:
    """One argument: render(ctx) gives the text for this request."""

    __slots__ = ("literal", "only", "pieces", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        pieces: list[Piece] = []
        pos = 0
        for match in _TOKEN.finditer(source):
            if match.start() > pos:
                pieces.append(source[pos : match.start()])
            group, name = match.groups()
            pieces.append(_capture(int(group)) if group is not None else _variable(name))
            pos = match.end()
        if pos < len(source):
            pieces.append(source[pos:])
        #: the text itself when it has no variable (rendering is then free)
        self.literal: str | None = source if all(type(p) is str for p in pieces) else None
        self.pieces = pieces
        #: the one variable the text is made of (`key=${REQUEST_URI}`): rendered by one call
        self.only = pieces[0] if len(pieces) == 1 and self.literal is None else None

    def render(self, ctx: RouteContext) -> str:
        if self.literal is not None:
            return self.literal
        only = self.only
        if only is not None:
            return only(ctx)  # type: ignore[operator]
        return "".join(p if type(p) is str else p(ctx) for p in self.pieces)  # type: ignore[operator,misc]

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def _capture(index: int) -> Callable[[RouteContext], str]:
    def capture(ctx: RouteContext) -> str:
        groups = ctx.captures
        return groups[index] or "" if index < len(groups) else ""

    return capture


def _variable(name: str) -> Callable[[RouteContext], str]:
    bracket = name.find("[")
    if bracket > 0 and name.endswith("]"):
        func = FUNCTIONS.get(name[:bracket])
        if func is not None:
            arg = name[bracket + 1 : -1]
            return lambda ctx: func(ctx, arg)

    def var(ctx: RouteContext) -> str:
        return ctx.vars.get(name, "")

    return var
