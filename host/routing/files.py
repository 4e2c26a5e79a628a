"""Files as answers (router_static): `static:PATH` sends a file with the static-file rules
(type, Last-Modified, ranges, 304s) and `file:filename=PATH[,status=S][,content_type=T][,mime=1]
[,no_cl=1]` sends one with the status and type given (text/html unless told); uWSGI's `no_headers`
(a body without a head) is refused at start."""

from __future__ import annotations

from polyhost.routing.actions import Action, Builder, status_line
from polyhost.routing.cache import NO_LENGTH, flag, keyval
from polyhost.routing.conditions import RuleError
from polyhost.routing.context import BREAK, Answer, RouteContext
from polyhost.routing.routevars import MIME_TYPES
from polyhost.routing.template import Template


def _static(arg: str) -> Action:
    path = Template(arg)

    def serve(ctx: RouteContext) -> int:
        ctx.answer = Answer("200 OK", file=path.render(ctx))
        return BREAK

    return serve


def _file(arg: str) -> Action:
    fields = keyval(
        arg,
        {"filename", "status", "content_type", "mime", *NO_LENGTH},
        ("filename",),
        "file",
    )  # fmt: skip
    filename = Template(fields["filename"])
    status = status_line(fields.get("status") or "200 OK")
    if status is None:
        raise RuleError(f"file: status must be an HTTP status, not {fields['status']!r}")
    content_type = fields.get("content_type") or "text/html"
    by_mime = flag(fields, "mime")
    no_length = flag(fields, *NO_LENGTH)

    def serve(ctx: RouteContext) -> int:
        path = filename.render(ctx)
        kind = (MIME_TYPES.guess_type(path, strict=False)[0] if by_mime else None) or content_type
        ctx.answer = Answer(
            status, [("Content-Type", kind)], file=path, plain=True, length=not no_length
        )
        return BREAK

    return serve


FILE_ACTIONS: dict[str, Builder] = {"static": _static, "file": _file}
