"""The built-in actions of the rule engine (uWSGI's core/routing.c and the router_rewrite and
router_redirect plugins), by name.

An action is built once at start-up from its argument (the text after `name:`) and is then a
function of the request context returning NEXT, CONTINUE or BREAK. Arguments are Templates:
route variables and `$N` captures are expanded per request.
"""

from __future__ import annotations

import contextlib
import http
import os
from collections.abc import Callable
from urllib.parse import quote, unquote_to_bytes

from polyhost.log import log, printable
from polyhost.protocol.response_head import BadResponse, checked_header
from polyhost.routing.conditions import RuleError
from polyhost.routing.context import BREAK, CONTINUE, NEXT, Answer, RouteContext
from polyhost.routing.template import Template

Action = Callable[[RouteContext], int]
Builder = Callable[[str], Action]

#: characters left as they are in a redirect target; everything else is percent-encoded, so a
#: Location header never carries a control character, a space or non-ASCII bytes
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def status_line(code_text: str) -> str | None:
    """`405` -> `405 Method Not Allowed` (a longer text is kept); None if it is no status."""
    code_text = code_text.strip()
    code, _, reason = code_text.partition(" ")
    if len(code) != 3 or not code.isdigit():
        return None
    if reason:
        return code_text
    with contextlib.suppress(ValueError):
        return f"{code} {http.HTTPStatus(int(code)).phrase}"
    return f"{code} Unknown"


# -- flow ------------------------------------------------------------------------------------


def _continue(arg: str) -> Action:
    return lambda ctx: CONTINUE


def _break(arg: str) -> Action:
    if len(arg) < 3:
        return lambda ctx: BREAK
    status = status_line(arg)
    if status is None:
        raise RuleError(f"break needs an HTTP status such as 405, got {arg!r}")
    headers = [("Content-Type", "text/plain")]

    def stop(ctx: RouteContext) -> int:
        ctx.answer = Answer(status, list(headers), close=True)
        return BREAK

    return stop


def _return(arg: str) -> Action:
    code = arg.strip()[:3]
    try:
        phrase_text = http.HTTPStatus(int(code)).phrase if code.isdigit() else ""
    except ValueError:
        phrase_text = ""
    if not phrase_text:  # uWSGI answers nothing for a code it has no phrase for
        raise RuleError(f"return needs a known HTTP status such as 403, got {arg!r}")
    status = f"{code} {phrase_text}"
    phrase = phrase_text.encode("latin-1")
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(phrase)))]

    def answer(ctx: RouteContext) -> int:
        ctx.answer = Answer(status, list(headers), phrase)
        return BREAK

    return answer


def _goto(arg: str) -> Action:
    label = Template(arg)

    def jump(ctx: RouteContext) -> int:
        ctx.jump = label.render(ctx)
        return NEXT

    return jump


# -- logging ---------------------------------------------------------------------------------


def _log(arg: str) -> Action:
    message = Template(arg)

    def write(ctx: RouteContext) -> int:
        log(printable(message.render(ctx)))
        return NEXT

    return write


def _key_value(arg: str, what: str) -> tuple[str, Template]:
    key, equals, value = arg.partition("=")
    if not equals or not key:
        raise RuleError(f"{what} needs KEY=VALUE, got {arg!r}")
    return key, Template(value)


def _logvar(arg: str) -> Action:
    key, value = _key_value(arg, "logvar")

    def store(ctx: RouteContext) -> int:
        ctx.logvars[key] = value.render(ctx)
        return NEXT

    return store


def _donotlog(arg: str) -> Action:
    def silence(ctx: RouteContext) -> int:
        ctx.donotlog = True
        return NEXT

    return silence


def _nothing(arg: str) -> Action:
    """Accepted for uWSGI's configs, nothing to do here (`donotoffload`: no offloading of
    routed answers happens anyway)."""
    return lambda ctx: NEXT


# -- request vars ----------------------------------------------------------------------------


def _addvar(arg: str) -> Action:
    key, value = _key_value(arg, "addvar")

    def add(ctx: RouteContext) -> int:
        ctx.vars[key] = value.render(ctx)
        return NEXT

    return add


def _setvar(var: str) -> Builder:
    def build(arg: str) -> Action:
        value = Template(arg)

        def set_var(ctx: RouteContext) -> int:
            ctx.vars[var] = value.render(ctx)
            return NEXT

        return set_var

    return build


def _setuser(arg: str) -> Action:
    value = Template(arg)

    def set_user(ctx: RouteContext) -> int:
        ctx.vars["REMOTE_USER"] = value.render(ctx).partition(":")[0]
        return NEXT

    return set_user


def _fixpathinfo(arg: str) -> Action:
    def fix(ctx: RouteContext) -> int:
        script_name = ctx.vars.get("SCRIPT_NAME", "")
        path = ctx.vars.get("PATH_INFO", "")
        if script_name and path.startswith(script_name):
            ctx.vars["PATH_INFO"] = path[len(script_name) :]
        return NEXT

    return fix


def _modifier(which: int) -> Builder:
    def build(arg: str) -> Action:
        if not arg.strip().isdigit() or int(arg) > 255:
            raise RuleError(f"setmodifier{which} needs a number 0-255, got {arg!r}")
        number = int(arg)

        def set_modifier(ctx: RouteContext) -> int:
            if which == 1:
                ctx.modifier1 = number
            else:
                ctx.modifier2 = number
            return NEXT

        return set_modifier

    return build


def _math(operation: Callable[[int, int], int]) -> Builder:
    def build(arg: str) -> Action:
        var, comma, amount_text = arg.partition(",")
        amount = Template(amount_text) if comma else None

        def compute(ctx: RouteContext) -> int:
            if var not in ctx.vars:
                return BREAK
            base = _leading_int(ctx.vars[var])
            value = _leading_int(amount.render(ctx)) if amount is not None else 1
            ctx.vars[var] = str(operation(base, value))
            return NEXT

        return compute

    return build


def _leading_int(text: str) -> int:
    digits = text.strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    end = 0
    while end < len(digits) and digits[end].isdigit():
        end += 1
    return sign * int(digits[:end]) if end else 0


def _divide(a: int, b: int) -> int:
    return 0 if b == 0 else int(a / b)


# -- response headers ------------------------------------------------------------------------


def _addheader(arg: str) -> Action:
    if ":" not in arg:
        raise RuleError(f"addheader needs 'Name: value', got {arg!r}")
    header = Template(arg)

    def add(ctx: RouteContext) -> int:
        name, _, value = header.render(ctx).partition(":")
        try:
            checked_header(name.strip(), value.strip())
        except BadResponse as exc:
            log(f"[uwsgi-route] addheader skipped: {printable(str(exc))}")
            return NEXT
        ctx.add_headers.append((name.strip(), value.strip()))
        return NEXT

    return add


def _delheader(arg: str) -> Action:
    name = Template(arg)

    def remove(ctx: RouteContext) -> int:
        ctx.remove_headers.add(name.render(ctx).strip().lower())
        return NEXT

    return remove


def _clearheaders(arg: str) -> Action:
    status = status_line(arg)
    if status is None:
        raise RuleError(f"clearheaders needs an HTTP status, got {arg!r}")

    def clear(ctx: RouteContext) -> int:
        ctx.reset_status = status
        return NEXT

    return clear


def _transform(name: str) -> Builder:
    def build(arg: str) -> Action:
        def add(ctx: RouteContext) -> int:
            if name not in ctx.transforms:
                ctx.transforms.append(name)
            return NEXT

        return add

    return build


# -- answers ---------------------------------------------------------------------------------


def safe_location(target: str) -> str:
    """A redirect target fit for a Location header: anything but URL characters encoded."""
    return quote(target, safe=_URL_SAFE, encoding="latin-1", errors="replace")


def _redirect(status: str, body: bytes) -> Builder:
    def build(arg: str) -> Action:
        target = Template(arg)

        def redirect(ctx: RouteContext) -> int:
            location = safe_location(target.render(ctx))
            ctx.answer = Answer(
                status, [("Location", location), ("Content-Length", str(len(body)))], body
            )
            return BREAK

        return redirect

    return build


def _rewrite(last: bool) -> Builder:
    def build(arg: str) -> Action:
        target = Template(arg)

        def rewrite(ctx: RouteContext) -> int:
            new = target.render(ctx)
            path, question, query = new.partition("?")
            old_query = ctx.vars.get("QUERY_STRING", "")
            if question and old_query:
                query = f"{query}&{old_query}"
            elif not question:
                query = old_query
            ctx.vars["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
            ctx.vars["QUERY_STRING"] = query
            return CONTINUE if last else NEXT

        return rewrite

    return build


def _send(crlf: bool) -> Builder:
    def build(arg: str) -> Action:
        data = Template(arg)

        def send(ctx: RouteContext) -> int:
            text = data.render(ctx) + ("\r\n" if crlf else "")
            ctx.sent.append(text.encode("latin-1", "replace"))
            return NEXT

        return send

    return build


# -- the process -----------------------------------------------------------------------------


def _harakiri(arg: str) -> Action:
    seconds = _leading_int(arg)

    def set_harakiri(ctx: RouteContext) -> int:
        if seconds > 0:
            ctx.harakiri = seconds
        return NEXT

    return set_harakiri


def _signal(arg: str) -> Action:
    if not arg.strip().isdigit() or int(arg) > 255:
        raise RuleError(f"signal needs a signal number 0-255, got {arg!r}")
    number = int(arg)

    def raise_signal(ctx: RouteContext) -> int:
        from polyhost.fabric import signals

        try:
            signals.CLIENT.raise_signal(number)
        except Exception as exc:  # no master to route it: the request goes on
            log(f"[uwsgi-route] signal {number} not raised: {exc}")
        return NEXT

    return raise_signal


def _chdir(arg: str) -> Action:
    directory = Template(arg)

    def change(ctx: RouteContext) -> int:
        try:
            os.chdir(directory.render(ctx))
        except OSError as exc:
            log(f"[uwsgi-route] chdir: {printable(str(exc))}")
            return BREAK
        return NEXT

    return change


def _setprocname(arg: str) -> Action:
    name = Template(arg)

    def rename(ctx: RouteContext) -> int:
        import setproctitle

        setproctitle.setproctitle(printable(name.render(ctx)))
        return NEXT

    return rename


def _alarm(arg: str) -> Action:
    alarm, space, message = arg.partition(" ")
    if not space:
        raise RuleError(f"alarm needs 'ALARM MESSAGE', got {arg!r}")
    text = Template(message)

    def trigger(ctx: RouteContext) -> int:
        log(f"[uwsgi-alarm] {alarm}: {printable(text.render(ctx))}")
        return NEXT

    return trigger


ACTIONS: dict[str, Builder] = {
    "continue": _continue,
    "last": _continue,
    "break": _break,
    "return": _return,
    "break-with-status": _return,
    "goto": _goto,
    "log": _log,
    "logvar": _logvar,
    "donotlog": _donotlog,
    "donotoffload": _nothing,
    "addvar": _addvar,
    "setapp": _setvar("UWSGI_APPID"),
    "setuser": _setuser,
    "sethome": _setvar("UWSGI_HOME"),
    "setfile": _setvar("UWSGI_FILE"),
    "setscriptname": _setvar("SCRIPT_NAME"),
    "setmethod": _setvar("REQUEST_METHOD"),
    "seturi": _setvar("REQUEST_URI"),
    "setremoteaddr": _setvar("REMOTE_ADDR"),
    "setpathinfo": _setvar("PATH_INFO"),
    "setdocroot": _setvar("DOCUMENT_ROOT"),
    "setscheme": _setvar("UWSGI_SCHEME"),
    "fixpathinfo": _fixpathinfo,
    "setmodifier1": _modifier(1),
    "setmodifier2": _modifier(2),
    "+": _math(int.__add__),
    "-": _math(int.__sub__),
    "*": _math(int.__mul__),
    "/": _math(_divide),
    "addheader": _addheader,
    "delheader": _delheader,
    "remheader": _delheader,
    "clearheaders": _clearheaders,
    "resetheaders": _clearheaders,
    "disableheaders": _transform("noheaders"),
    "flush": _nothing,
    "fixcl": _transform("fixcl"),
    "forcecl": _transform("fixcl"),
    "gzip": _transform("gzip"),
    "chunked": _transform("chunked"),
    "redirect": _redirect("302 Found", b"Moved"),
    "redirect-302": _redirect("302 Found", b"Moved"),
    "redirect-permanent": _redirect("301 Moved Permanently", b"Moved Permanently"),
    "redirect-301": _redirect("301 Moved Permanently", b"Moved Permanently"),
    "rewrite": _rewrite(False),
    "rewrite-last": _rewrite(True),
    "send": _send(False),
    "send-crnl": _send(True),
    "harakiri": _harakiri,
    "signal": _signal,
    "chdir": _chdir,
    "setprocname": _setprocname,
    "alarm": _alarm,
}
