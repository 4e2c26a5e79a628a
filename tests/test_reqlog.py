"""The request log line against lines printed by real uWSGI 2.0.21 (Debian uwsgi-core)."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator

import pytest

from polyhost.reqlog import RequestInfo, RequestLogger, compile_format

# `uwsgi --plugins python3 --master --http-socket ... --wsgi-file app.py`, TZ=UTC, then
# curl -A 'ua/1' -e 'http://ref/' 'http://127.0.0.1:19093/x?a=1'
UWSGI_DEFAULT = (
    "[pid: 4087|app: 0|req: 1/1] 127.0.0.1 () {26 vars in 275 bytes} "
    "[Mon Nov 23 15:42:08 2026] GET /x?a=1 => generated 12 bytes in 0 msecs "
    "(HTTP/1.1 200) 2 headers in 53 bytes (1 switches on core 0)"
)
# the same with --log-micros, curl http://127.0.0.1:19094/abc
UWSGI_MICROS = (
    "[pid: 7553|app: 0|req: 1/1] 127.0.0.1 () {24 vars in 252 bytes} "
    "[Mon Nov 23 15:43:40 2026] GET /abc => generated 12 bytes in 187 micros "
    "(HTTP/1.1 200) 2 headers in 53 bytes (1 switches on core 0)"
)
# --log-format with every variable; curl -H 'X-Foo: bar' -A ua/1 -e http://ref/ -d hello
ALL_VARIABLES = (
    "A uri=%(uri) method=%(method) user=%(user) addr=%(addr) host=%(host) proto=%(proto) "
    "status=%(status) referer=%(referer) uagent=%(uagent) time=%(time) ltime=%(ltime) "
    "ftime=%(ftime) tmsecs=%(tmsecs) tmicros=%(tmicros) size=%(size) rsize=%(rsize) "
    "hsize=%(hsize) cl=%(cl) micros=%(micros) msecs=%(msecs) secs=%(secs) ctime=%(ctime) "
    "pid=%(pid) wid=%(wid) switches=%(switches) vars=%(vars) pktsize=%(pktsize) "
    "m1=%(modifier1) m2=%(modifier2) headers=%(headers) core=%(core) werr=%(werr) "
    "rerr=%(rerr) ioerr=%(ioerr) vu=%(var.HTTP_X_FOO) vn=%(var.NOPE) unk=%(nothing) "
    "rss=%(rss) vsz=%(vsz) %%(x) %() end"
)
UWSGI_ALL_VARIABLES = (
    "A uri=/x?a=1 method=POST user=- addr=127.0.0.1 host=127.0.0.1:19095 proto=HTTP/1.1 "
    "status=200 referer=http://ref/ uagent=ua/1 time=1795448620 "
    "ltime=23/Nov/2026:15:43:40 +0000 ftime=23/Nov/2026:15:43:40 +0000 "
    "tmsecs=1795448620414 tmicros=1795448620414738 size=65 rsize=12 hsize=53 cl=5 "
    "micros=216 msecs=0 secs=0.000216 ctime=Mon Nov 23 15:43:40 2026 pid=7554 wid=1 "
    "switches=1 vars=32 pktsize=361 m1=0 m2=0 headers=2 core=0 werr=0 rerr=0 ioerr=0 "
    "vu=bar vn=- unk=- rss=0 vsz=0 %- % %() end"
)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """The reference lines were printed with TZ=UTC; local-time fields depend on TZ."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


def epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%a %b %d %H:%M:%S %Y")))


def info(**changes: object) -> RequestInfo:
    start = epoch("Mon Nov 23 15:42:08 2026") + 0.25
    base = RequestInfo(
        pid=4087,
        wid=1,
        app_id=0,
        req_worker=1,
        req_total=1,
        vars={
            "REQUEST_METHOD": "GET",
            "REQUEST_URI": "/x?a=1",
            "PATH_INFO": "/x",
            "QUERY_STRING": "a=1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:19093",
            "HTTP_USER_AGENT": "ua/1",
            "HTTP_REFERER": "http://ref/",
        },
        vars_count=26,
        vars_size=275,
        start=start,
        end=start + 0.000146,
        status=200,
        size=12,
        hsize=53,
        headers=2,
        core=0,
        modifier1=0,
        modifier2=0,
        pktsize=275,
        switches=1,
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_default_line_matches_uwsgi() -> None:
    assert RequestLogger(None).line(info()) == UWSGI_DEFAULT


def test_log_micros_matches_uwsgi() -> None:
    start = epoch("Mon Nov 23 15:43:40 2026") + 0.5
    record = info(
        pid=7553,
        vars_count=24,
        vars_size=252,
        start=start,
        end=start + 0.000187,
        vars={**info().vars, "REQUEST_URI": "/abc"},
    )
    assert RequestLogger(None, micros=True).line(record) == UWSGI_MICROS


def test_default_line_user_no_app_via_and_milliseconds() -> None:
    record = info(
        app_id=-1,
        req_worker=5,
        req_total=9,
        via="sendfile",
        end=info().start + 3.0001,
        vars={**info().vars, "REMOTE_USER": "bob"},
        status=404,
        switches=0,
        core=3,
    )
    assert RequestLogger(None).line(record) == (
        "[pid: 4087|app: -1|req: -1/9] 127.0.0.1 (bob) {26 vars in 275 bytes} "
        "[Mon Nov 23 15:42:08 2026] GET /x?a=1 => generated 12 bytes in 3000 msecs "
        "via sendfile() (HTTP/1.1 404) 2 headers in 53 bytes (0 switches on core 3)"
    )


def test_single_digit_day_is_space_padded_like_ctime() -> None:
    start = epoch("Tue Nov  3 09:05:01 2026")
    assert "[Tue Nov  3 09:05:01 2026]" in RequestLogger(None).line(info(start=start, end=start))


def test_oversized_line_falls_back_like_uwsgi() -> None:
    record = info(vars={**info().vars, "REQUEST_URI": "/" + "a" * 5000})
    assert RequestLogger(None).line(record) == (
        "[pid: 4087|app: 0|req: 1/1] 0.0.0.0 () {26 vars in 275 bytes} "
        "[Mon Nov 23 15:42:08 2026] - - => generated 12 bytes in 0 msecs "
        "(- 200) 2 headers in 53 bytes (1 switches on core 0)"
    )


def test_every_log_format_variable_matches_uwsgi() -> None:
    start = 1795448620.414738
    record = info(
        pid=7554,
        vars_count=32,
        pktsize=361,
        start=start,
        end=start + 0.000216,
        vars={
            **info().vars,
            "REQUEST_METHOD": "POST",
            "HTTP_HOST": "127.0.0.1:19095",
            "CONTENT_LENGTH": "5",
            "HTTP_X_FOO": "bar",
        },
    )
    assert RequestLogger(ALL_VARIABLES).line(record) == UWSGI_ALL_VARIABLES


def test_epoch_is_the_time_of_logging() -> None:
    before = int(time.time())
    logged = int(RequestLogger("%(epoch)").line(info()))
    assert before <= logged <= int(time.time())


def test_logvars_ftime_and_empty_values() -> None:
    logger = RequestLogger("%(who) %(ftime) [%(user)] %(ioerr) %(cl)", ftime="%Y-%m-%d %H:%M:%S")
    record = info(logvars={"who": "alice"}, rerr=1, werr=2)
    record.vars["CONTENT_LENGTH"] = "abc"
    assert logger.line(record) == "alice 2026-11-23 15:42:08 [-] 3 0"
    assert logger.line(info()) == "- 2026-11-23 15:42:08 [-] 0 0"


def test_format_is_compiled_once_into_parts() -> None:
    parts = compile_format("%(method) %(uri) took %(msecs)ms")
    assert [p for p in parts if isinstance(p, str)] == [" ", " took ", "ms"]
    assert len(parts) == 6
    assert RequestLogger("plain text").line(info()) == "plain text"


def test_memory_report_starts_the_default_line_with_the_workers_memory() -> None:
    """memory-report, as uWSGI: `{address space usage: N bytes/NMB} {rss usage: N bytes/NMB} `
    before the default line (log-format lines are left as they are)."""
    line = RequestLogger(None, memory_report=True).line(info())
    prefix = re.match(
        r"\{address space usage: (\d+) bytes/(\d+)MB\} \{rss usage: (\d+) bytes/(\d+)MB\} ", line
    )
    assert prefix is not None and line[prefix.end() :] == UWSGI_DEFAULT
    vsz, vsz_mb, rss, rss_mb = map(int, prefix.groups())
    assert vsz >= rss > 0 and (vsz_mb, rss_mb) == (vsz >> 20, rss >> 20)
    assert RequestLogger("%(uri)", memory_report=True).line(info()).startswith("/")
