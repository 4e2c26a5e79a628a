"""The request log line: uWSGI's default line, or a `log-format` compiled once into parts.

Both follow uWSGI 2.0.21 (`uwsgi_logit_simple` and `uwsgi_logit_lf` in core/logging.c), checked
byte for byte against the Debian uwsgi 2.0.21 packages. Lines are returned without the newline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from polyhost.log import printable

#: uWSGI truncates its log packet at 4096 bytes and then logs a minimal line instead
MAX_LINE = 4096

#: `via` -> the words uWSGI puts between the time and the protocol
_VIA = {
    "": " ",
    "sendfile": " via sendfile() ",
    "route": " via route() ",
    "offload": " via offload() ",
}


@dataclass(slots=True)
class RequestInfo:
    """What the log line needs about one finished request."""

    pid: int
    wid: int
    #: App.id that served the request, -1 when none did (then `req: -1/M`)
    app_id: int
    #: requests of that app in this worker, this one included (uWSGI's `req: N/...`)
    req_worker: int
    #: requests of the whole instance, this one included (Scoreboard.total_requests())
    req_total: int
    vars: dict[str, str]
    #: uWSGI counts keys and values separately: 2 x the number of vars as received
    vars_count: int
    #: size of the vars as a uwsgi packet body: sum of 4 + len(key) + len(value)
    vars_size: int
    #: epoch seconds when the request began and ended
    start: float
    end: float
    status: int
    #: body bytes sent
    size: int
    #: header bytes sent (status line included)
    hsize: int
    #: number of headers sent
    headers: int
    core: int
    modifier1: int
    modifier2: int
    pktsize: int
    #: uWSGI's switches: for WSGI, 1 per response iterable served, 0 after an exception
    switches: int = 0
    rerr: int = 0
    werr: int = 0
    #: "" or "sendfile" / "route" / "offload" (the ` via sendfile() ` of the default line)
    via: str = ""
    #: request log variables set by the app (uwsgi.set_logvar), for `%(name)` in log-format
    logvars: dict[str, str] | None = None
    #: worker memory in bytes, for `%(rss)`, `%(vsz)`, `%(rssM)`, `%(vszM)`
    rss: int = 0
    vsz: int = 0


def _micros(info: RequestInfo) -> int:
    """Request time in µs as uWSGI computes it: integer µs timestamps, 0 if the clock went back."""
    rt = round(info.end * 1_000_000) - round(info.start * 1_000_000)
    return rt if rt > 0 else 0


def _request_var(name: str) -> Callable[[RequestInfo], str]:
    """A request var as the client sent it, control characters escaped."""
    return lambda info: printable(info.vars.get(name, ""))


def _ltime(info: RequestInfo) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(int(info.start)))


def _content_length(info: RequestInfo) -> str:
    value = info.vars.get("CONTENT_LENGTH", "")
    return value if value.isdigit() else "0"


#: log-format variables (uwsgi_register_logchunks): each gives the text, "" becomes "-"
FORMAT_VARIABLES: dict[str, Callable[[RequestInfo], str]] = {
    "uri": _request_var("REQUEST_URI"),
    "method": _request_var("REQUEST_METHOD"),
    "user": _request_var("REMOTE_USER"),
    "addr": _request_var("REMOTE_ADDR"),
    "host": _request_var("HTTP_HOST"),
    "proto": _request_var("SERVER_PROTOCOL"),
    "uagent": _request_var("HTTP_USER_AGENT"),
    "referer": _request_var("HTTP_REFERER"),
    "status": lambda info: str(info.status),
    "rsize": lambda info: str(info.size),
    "hsize": lambda info: str(info.hsize),
    "size": lambda info: str(info.size + info.hsize),
    "cl": _content_length,
    "micros": lambda info: str(_micros(info)),
    "msecs": lambda info: str(_micros(info) // 1000),
    "secs": lambda info: f"{_micros(info) / 1_000_000:f}",
    "tmsecs": lambda info: str(round(info.start * 1_000_000) // 1000),
    "tmicros": lambda info: str(round(info.start * 1_000_000)),
    "time": lambda info: str(int(info.start)),
    "ltime": _ltime,
    "ctime": lambda info: time.ctime(int(info.start)),
    "epoch": lambda info: str(int(time.time())),
    "pid": lambda info: str(info.pid),
    "wid": lambda info: str(info.wid),
    "switches": lambda info: str(info.switches),
    "vars": lambda info: str(info.vars_count),
    "core": lambda info: str(info.core),
    "vsz": lambda info: str(info.vsz),
    "rss": lambda info: str(info.rss),
    "vszM": lambda info: str(info.vsz // 1024 // 1024),
    "rssM": lambda info: str(info.rss // 1024 // 1024),
    "pktsize": lambda info: str(info.pktsize),
    "modifier1": lambda info: str(info.modifier1),
    "modifier2": lambda info: str(info.modifier2),
    "headers": lambda info: str(info.headers),
    "werr": lambda info: str(info.werr),
    "rerr": lambda info: str(info.rerr),
    "ioerr": lambda info: str(info.werr + info.rerr),
}


def _logvar(name: str) -> Callable[[RequestInfo], str]:
    """An unknown name is a request log variable (uwsgi.set_logvar), "-" when unset."""
    return lambda info: printable(info.logvars.get(name, "")) if info.logvars else ""


def _variable(name: str, ftime: str | None) -> Callable[[RequestInfo], str]:
    if name == "ftime":
        if ftime is None:
            return _ltime
        return lambda info: time.strftime(ftime, time.localtime(int(info.start)))
    if name in FORMAT_VARIABLES:
        return FORMAT_VARIABLES[name]
    if name.startswith("var."):
        return _request_var(name[4:])
    return _logvar(name)


def compile_format(fmt: str, ftime: str | None = None) -> list[str | Callable[[RequestInfo], str]]:
    """Split a log-format into literal text and variable getters, with uWSGI's own scanner
    (uwsgi_build_log_format), so odd formats (`%%(x)`, `%()`) come out as uWSGI prints them."""
    parts: list[str | Callable[[RequestInfo], str]] = []
    state = 0
    current = 0
    logvar = -1
    for pos, char in enumerate(fmt):
        if char == "%":
            if state == 0:
                state = 1
        elif char == "(":
            if state == 1:
                state = 2
        elif char == ")":
            if logvar >= 0:
                parts.append(_variable(fmt[logvar:pos], ftime))
                state = 0
                logvar = -1
                current = pos + 1
        else:
            if state == 2:
                parts.append(fmt[current : pos - 2])
                logvar = pos
            state = 0
    if len(fmt) > current:
        parts.append(fmt[current:])
    return [part for part in parts if part != ""]


class RequestLogger:
    """Formats the request log line; `fmt` is the log-format option, None for uWSGI's default.
    `micros` is log-micros; `ftime` the strftime format of `%(ftime)` (log-date with
    logformat-strftime), else `%(ftime)` prints like `%(ltime)`."""

    def __init__(self, fmt: str | None, micros: bool = False, *, ftime: str | None = None) -> None:
        self.micros = micros
        self._parts = compile_format(fmt, ftime) if fmt is not None else None
        self._ctime_cache = (-1, "")

    def line(self, info: RequestInfo) -> str:
        if self._parts is None:
            return self._default_line(info)
        return "".join(
            [part if isinstance(part, str) else part(info) or "-" for part in self._parts]
        )

    def _ctime(self, epoch: int) -> str:
        cached_epoch, text = self._ctime_cache
        if cached_epoch != epoch:
            text = time.ctime(epoch)
            self._ctime_cache = (epoch, text)
        return text

    def _default_line(self, info: RequestInfo) -> str:
        rt = _micros(info)
        unit = "micros"
        if not self.micros:
            rt //= 1000
            unit = "msecs"
        app_req = info.req_worker if info.app_id >= 0 and info.req_worker > 0 else -1
        head = f"[pid: {info.pid}|app: {info.app_id}|req: {app_req}/{info.req_total}]"
        date = self._ctime(int(info.start))
        via = _VIA.get(info.via, " ")
        tail = f"=> generated {info.size} bytes in {rt} {unit}{via}"
        vars_ = info.vars
        client = (
            f"{vars_.get('REMOTE_ADDR', '')} ({vars_.get('REMOTE_USER', '')}) "
            f"{{{info.vars_count} vars in {info.vars_size} bytes}} [{date}] "
            f"{vars_.get('REQUEST_METHOD', '')} {vars_.get('REQUEST_URI', '')} {tail}"
            f"({vars_.get('SERVER_PROTOCOL', '')} {info.status})"
        )
        line = (
            f"{head} {printable(client)} {info.headers} headers in "
            f"{info.hsize} bytes ({info.switches} switches on core {info.core})"
        )
        if len(line) + 1 <= MAX_LINE:
            return line
        # uWSGI's fallback when the line does not fit its 4 KiB buffer
        return (
            f"{head} 0.0.0.0 () {{{info.vars_count} vars in {info.vars_size} bytes}} [{date}] "
            f"- - {tail}(- {info.status}) {info.headers} headers in {info.hsize} bytes "
            f"({info.switches} switches on core {info.core})"
        )
