"""uWSGI's route variable functions: `${cookie[NAME]}`, `${qs[NAME]}`, `${mime[VAR]}`,
`${time[unix|micros]}`, `${httptime[SECONDS]}`, `${math[EXPR]}`, `${base64[VAR]}`, `${hex[VAR]}`,
`${uwsgi[wid|pid|uuid|status|rtime|lq|rsize|sor]}`, `${xattr[VAR:NAME]}` and (after 2.0.21)
`${upper[VAR]}` / `${lower[VAR]}`. Each takes the request's context and the text between the
brackets and returns a str ("" when there is nothing to say)."""

from __future__ import annotations

import ast
import base64
import email.utils
import mimetypes
import operator
import os
import re
import time
import uuid
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from polyhost.process_state import CURRENT

if TYPE_CHECKING:
    from polyhost.routing.context import RouteContext

MIME_TYPES = mimetypes.MimeTypes(())
for _path in ("/etc/mime.types",):
    if os.path.exists(_path):
        MIME_TYPES.read(_path)


def cookie(ctx: RouteContext, name: str) -> str:
    raw = ctx.vars.get("HTTP_COOKIE", "")
    if not raw:
        return ""
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""


def query(ctx: RouteContext, name: str) -> str:
    for key, value in parse_qsl(ctx.vars.get("QUERY_STRING", ""), keep_blank_values=True):
        if key == name:
            return value
    return ""


def mime(ctx: RouteContext, var: str) -> str:
    value = ctx.vars.get(var, "")
    return (MIME_TYPES.guess_type(value, strict=False)[0] or "") if value else ""


def clock(ctx: RouteContext, which: str) -> str:
    if which == "unix":
        return str(int(time.time()))
    if which == "micros":
        return str(time.time_ns() // 1000)
    return ""


def httptime(ctx: RouteContext, seconds: str) -> str:
    return email.utils.formatdate(time.time() + _number(seconds), usegmt=True)


def b64(ctx: RouteContext, var: str) -> str:
    value = ctx.vars.get(var)
    return base64.b64encode(value.encode("latin-1")).decode() if value is not None else ""


def hexa(ctx: RouteContext, var: str) -> str:
    value = ctx.vars.get(var)
    return value.encode("latin-1").hex() if value is not None else ""


def upper(ctx: RouteContext, var: str) -> str:
    return ctx.vars.get(var, "").upper()


def lower(ctx: RouteContext, var: str) -> str:
    return ctx.vars.get(var, "").lower()


def uwsgi_info(ctx: RouteContext, key: str) -> str:
    if key == "wid":
        return str(ctx.wid)
    if key == "pid":
        return str(os.getpid())
    if key == "uuid":
        return str(uuid.uuid4())
    if key == "status":
        return str(ctx.status)
    if key == "rtime":
        return str(int((ctx.ended or time.time()) * 1e6) - int(ctx.started * 1e6))
    if key == "lq":
        return str(CURRENT.listen_queue() if CURRENT.listen_queue else 0)
    if key == "rsize":
        return str(ctx.response_size)
    if key == "sor":
        return str(int(ctx.started * 1e6))
    return ""


def xattr(ctx: RouteContext, spec: str) -> str:
    var, colon, name = spec.partition(":")
    path = ctx.vars.get(var) if colon else None
    if not path:
        return ""
    try:
        return os.getxattr(os.fsdecode(path.encode("latin-1")), name).decode("latin-1")
    except (OSError, ValueError):
        return ""


_LEADING_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?")
_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def math(ctx: RouteContext, expression: str) -> str:
    """matheval's expressions: numbers, request vars as numbers, + - * / % ^ and parentheses;
    the result truncated to an int, "" when the expression is not arithmetic."""
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
        return str(int(_evaluate(tree.body, ctx.vars)))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError):
        return ""


def _evaluate(node: ast.expr, names: dict[str, str]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return _number(names.get(node.id, "0"))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise OverflowError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    raise ValueError("not arithmetic")


def _number(text: str) -> float:
    """strtod's reading: the leading number of the text, 0 when there is none."""
    match = _LEADING_NUMBER.match(text)
    return float(match.group(0)) if match else 0.0


FUNCTIONS: dict[str, Callable[[RouteContext, str], str]] = {
    "cookie": cookie,
    "qs": query,
    "mime": mime,
    "time": clock,
    "httptime": httptime,
    "math": math,
    "base64": b64,
    "hex": hexa,
    "uwsgi": uwsgi_info,
    "xattr": xattr,
    "upper": upper,
    "lower": lower,
}
