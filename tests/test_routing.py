"""Internal routing (issue 16): the route* chains, route variables, conditions and actions,
answered as real uWSGI 2.0.21 answers them (Debian's uWSGI runs side by side on the same ini)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from polyhost.config.model import ConfigError
from polyhost.routing.context import BREAK, CONTINUE, RouteContext
from polyhost.routing.rules import RoutingError, RoutingTable, build_table, run
from polyhost.routing.serve import ALL_ACTIONS, ALL_CONDITIONS, decide, router_list
from polyhost.routing.template import Template

from conftest import APPS, POLYHOST, Instance, get, serving, split_response
from uwsgi_helper import Reference, reference_uwsgi

APP = APPS / "routing" / "echo_vars.py"
PLUGINS = "router_rewrite,router_redirect,router_basicauth,router_cache,router_static"

#: one ini for both servers: what each rule answers is compared byte for byte
RULES = r"""
route = ^/b405 break:405
route = ^/bare break:
route = ^/r403 return:403
route = ^/bws break-with-status:404
route = ^/redir redirect:/x?y=${qs[a]}
route = ^/perm/(.*) redirect-301:http://h/$1
route = ^/rw/(.*) rewrite:/new/$1?z=1
route = ^/new/ addvar:FOO=${PATH_INFO}
route = ^/auth basicauth:realm1,u:p
route = ^/hdr addheader:X-Added: ${HTTP_HOST}
route = ^/hdr delheader:X-App
route-if = equal:${qs[k]};v addvar:FOO=eq
route-if-not = empty:${HTTP_X_TOKEN} addvar:FOO=token ${HTTP_X_TOKEN}
route-if = regexp:${HTTP_X_PAIR};^(\d+)-(\d+)$ addvar:FOO=$2-$1
route-if = ishigher:${HTTP_X_LEVEL};10 return:429
route-if = islower:${HTTP_X_LEVEL};-5 return:406
route-if = startswith:${PATH_INFO};/sw addvar:FOO=sw
route-if = endswith:${PATH_INFO};.bak return:404
route-if = contains:${HTTP_X_TAGS};beta addvar:BAR=beta
route-if = ipv4in:${REMOTE_ADDR};127.0.0.0/8 addvar:LOCAL=yes
route-if = ipv6in:${HTTP_X_V6};2001:db8::/32 addvar:BAR=v6
route-if = isdir:${HTTP_X_DIR} addvar:BAR=dir
route-if = isfile:${HTTP_X_DIR} addvar:BAR=file
route = ^/lab goto:L1
route = ^/lab return:500
route-label = L1
route = ^/lab addvar:FOO=labelled
route-host = ^example\.org$ addvar:BAR=host
route-uri = ^/uri\?q addvar:BAR=uri
route-qs = ^only=1 addvar:BAR=qs
route-user-agent = ^robot return:403
route-referer = ^http://evil return:403
route = ^/meth setmethod:PUT
route = ^/suri seturi:/changed
route = ^/spi setpathinfo:/other
route = ^/ssn/ setscriptname:/ssn
route = ^/ssn/ fixpathinfo:
route = ^/sapp setapp:myapp
route = ^/sdoc setdocroot:/srv
route = ^/math addvar:BAR=5
route = ^/math +:BAR,3
route = ^/cookie addvar:FOO=${cookie[sid]}
route = ^/hex addvar:FOO=${hex[HTTP_X_T]}
route = ^/b64 addvar:FOO=${base64[HTTP_X_T]}
route = ^/mime/ addvar:FOO=${mime[PATH_INFO]}
route = ^/cont continue:
route = ^/cont return:500
route = ^/lst last:
route = ^/lst return:500
route = ^/nolog donotlog:
route = ^/admin goto:https
route-run = last:
route-label = https
route-if-not = equal:${HTTPS};on redirect-permanent:https://${HTTP_HOST}${REQUEST_URI}
error-route-status = 404 return:410
error-route = ^/err addheader:X-Err: ${uwsgi[status]}
response-route = ^/resp addheader:X-Resp: yes
"""

#: (path, extra request headers) asked of both servers
REQUESTS = [
    ("/b405", ""),
    ("/bare", ""),
    ("/r403", ""),
    ("/bws", ""),
    ("/redir?a=q", ""),
    ("/perm/abc", ""),
    ("/rw/abc?o=2", ""),
    ("/auth", ""),
    ("/auth", "Authorization: Basic dTpw\r\n"),
    ("/auth", "Authorization: Basic dTp4\r\n"),
    ("/auth", "Authorization: Bearer abc\r\n"),
    ("/hdr", ""),
    ("/x?k=v", ""),
    ("/x", "X-Token: t0k\r\n"),
    ("/x", "X-Pair: 12-34\r\n"),
    ("/x", "X-Level: 11\r\n"),
    ("/x", "X-Level: 10\r\n"),
    ("/x", "X-Level: -6\r\n"),
    ("/swim", ""),
    ("/file.bak", ""),
    ("/x", "X-Tags: alpha,beta\r\n"),
    ("/x", "X-V6: 2001:db8::1\r\n"),
    ("/x", "X-V6: 2001:db9::1\r\n"),
    ("/x", "X-Dir: /tmp\r\n"),
    ("/x", "X-Dir: /etc/hostname\r\n"),
    ("/lab", ""),
    ("/h", "Host-Override"),
    ("/uri?q=1", ""),
    ("/x?only=1", ""),
    ("/x", "User-Agent: robot/1\r\n"),
    ("/x", "Referer: http://evil.example/\r\n"),
    ("/meth", ""),
    ("/suri", ""),
    ("/spi", ""),
    ("/ssn/a/b", ""),
    ("/sapp", ""),
    ("/sdoc", ""),
    ("/math", ""),
    ("/cookie", "Cookie: a=1; sid=s3cr3t; z=2\r\n"),
    ("/hex", "X-T: AB\r\n"),
    ("/b64", "X-T: hello\r\n"),
    ("/mime/x.png", ""),
    ("/cont", ""),
    ("/lst", ""),
    ("/missing", ""),
    ("/resp", ""),
    ("/admin/users?page=2", ""),
    ("/err", ""),  # the error chain runs at every status, a 200 too (uWSGI's "error" chain)
    ("/err/missing", ""),
]

#: headers whose presence or value is framing, not routing
_FRAMING = {"content-length", "connection", "transfer-encoding", "date"}


def _ask(port: int, path: str, headers: str) -> tuple[int, dict[str, str], bytes] | bytes:
    host = "t"
    if headers == "Host-Override":
        host, headers = "example.org", ""
    raw = get(port, path, headers, host=host)
    if not raw:
        return b""  # nothing sent, the connection closed (break: without a status)
    status, head, body = split_response(raw)
    if head.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return status, {k: v for k, v in head.items() if k not in _FRAMING}, body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if not size:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Reference, Instance]]:
    tmp = tmp_path_factory.mktemp("routing-pair")
    ini = tmp / "rules.ini"
    # a static option makes uWSGI load its mime types (for ${mime[...]})
    ini.write_text(f"[uwsgi]\nwsgi-file = {APP}\nstatic-map = /nostatic={tmp}\n{RULES}")
    with (
        reference_uwsgi(tmp, ["--ini", str(ini)], PLUGINS) as ref,
        serving(tmp, ["--ini", str(ini)]) as poly,
    ):
        yield ref, poly


@pytest.fixture(scope="module")
def pair(servers: tuple[Reference, Instance]) -> tuple[int, int]:
    ref, poly = servers
    assert poly.port is not None
    return ref.port, poly.port


def test_table_dumps_as_uwsgi(servers: tuple[Reference, Instance]) -> None:
    def dumps(log: str) -> list[str]:
        lines = log.splitlines()
        return [
            line for line in lines if line.startswith(("[rule: ", "*** dumping", "*** end of the"))
        ]

    ref, poly = servers
    assert dumps(poly.log()) == dumps(ref.log()) != []


@pytest.mark.parametrize(("path", "headers"), REQUESTS)
def test_answers_as_real_uwsgi(pair: tuple[int, int], path: str, headers: str) -> None:
    reference, polyhost = pair
    expected = _ask(reference, path, headers)
    got = _ask(polyhost, path, headers)
    assert got == expected


# -- the engine alone ------------------------------------------------------------------------


def _table(*rules: tuple[str, str]) -> RoutingTable:
    return build_table(
        [(o, v, f"app.ini:{n}") for n, (o, v) in enumerate(rules, 1)], ALL_ACTIONS, ALL_CONDITIONS
    )


def test_decide_is_the_engine_without_a_server() -> None:
    table = _table(("route", "^/old/(.*) rewrite:/new/$1"), ("route-uri", r"\?x=1 return:418"))
    env = {"PATH_INFO": "/old/a%20b", "REQUEST_URI": "/old/a%20b?x=1", "QUERY_STRING": "x=1"}
    outcome, ctx = decide(table, env)
    assert outcome == BREAK and ctx.answer is not None
    assert ctx.answer.status == "418 I'm a Teapot" and ctx.answer.body == b"I'm a Teapot"
    assert env["PATH_INFO"] == "/new/a b" and env["REQUEST_URI"] == "/old/a%20b?x=1"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (("route", "^/x nosuchaction:foo"), "app.ini:1: route = ^/x nosuchaction:foo: unknown"),
        (("route", "^/x redirekt:/y"), "did you mean 'redirect'?"),
        (("route", "^/(x redirect:/y"), "bad regexp '^/(x'"),
        (("route-if", "nosuchcond:a;b log:x"), "unknown route condition 'nosuchcond'"),
        (("route-if", "equl:a;b log:x"), "did you mean 'equal'?"),
        (("route-run", "break"), "write break: with a colon"),
        (("route", "^/x"), "invalid route syntax"),
        (("route-if", "regexp:${PATH_INFO};(( log:x"), "bad regexp '(('"),
        (("route", "^/ logvar:novalue"), "logvar needs KEY=VALUE"),
        (("route", "^/ cache:name=x"), "you need to specify key="),
        (("route", "^/ basicauth:realm-only"), "basicauth needs REALM,USER:PASS"),
        (("route", "^/ return:abc"), "return needs a known HTTP status"),
        (("route", "^/ return:799"), "return needs a known HTTP status"),
    ],
)
def test_bad_rules_are_start_up_errors(rule: tuple[str, str], message: str) -> None:
    with pytest.raises(RoutingError) as caught:
        _table(rule)
    assert message in str(caught.value)
    assert isinstance(caught.value, ConfigError) and str(caught.value).startswith("app.ini:1: ")


def test_a_bad_rule_stops_the_start_with_its_file_and_line(tmp_path: Path) -> None:
    import subprocess

    ini = tmp_path / "bad.ini"
    ini.write_text(f"[uwsgi]\nwsgi-file = {APP}\nroute = ^/ok log:fine\nroute = ^/x redirekt:/y\n")
    done = subprocess.run(
        [*POLYHOST, "--http-socket", "127.0.0.1:0", "--ini", str(ini)],
        capture_output=True, timeout=60, text=True,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"{ini}:4: route = ^/x redirekt:/y: unknown route action 'redirekt'" in (
        done.stdout + done.stderr
    )
    assert "did you mean 'redirect'?" in done.stdout + done.stderr


def test_goto_jumps_forward_only() -> None:
    table = _table(
        ("route-label", "top"),
        ("route-run", "goto:top"),
        ("route-run", "return:500"),
    )
    ctx = RouteContext({"PATH_INFO": "/"})
    assert run(table.request, ctx) == BREAK and ctx.answer is None


def test_runs_of_regexps_are_prefiltered_with_the_same_outcome() -> None:
    rules = [("route", f"^/nomatch{n}/(.*)$ return:500") for n in range(20)]
    table = _table(*rules, ("route", "^/hit/(.*) addvar:GOT=$1"))
    assert table.request.prefilters, "20 plain regexps on PATH_INFO share one search"
    assert not table.request.may_apply({"PATH_INFO": "/none"})
    assert table.request.may_apply({"PATH_INFO": "/hit/x"})
    backref = _table(("route", r"^/(a)\1$ return:403"), ("route-uri", "^/q addvar:Q=1"))
    assert backref.request.may_apply({"PATH_INFO": "/aa", "REQUEST_URI": "/aa"})
    assert not backref.request.may_apply({"PATH_INFO": "/ab", "REQUEST_URI": "/ab"})
    assert _table(("route-run", "log:x")).request.may_apply({})
    for path, expected in (("/hit/a", "a"), ("/nomatch7/z", None), ("/none", None)):
        ctx = RouteContext({"PATH_INFO": path})
        outcome = run(table.request, ctx)
        assert ctx.vars.get("GOT") == expected
        assert outcome == (BREAK if path.startswith("/nomatch") else CONTINUE)


def test_router_list_names_every_action_and_condition(tmp_path: Path) -> None:
    lines = router_list()
    for name in ("rewrite", "basicauth", "cachestore", "uwsgi", "http", "static", "regexp"):
        assert name in lines
    with serving(tmp_path, ["--wsgi-file", str(APP), "--router-list"]) as inst:
        log = inst.log()
    start = log.index("*** uWSGI loaded routers ***\ncontinue\nlast\nbreak\nreturn\n")
    assert "\nrewrite-last\n" in log[start:] and "--- end of routers list ---" in log


# -- route variables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${PATH_INFO}", "/p"),
        ("${NOPE}x", "x"),
        ("$1-$0-$7", "a-/pa-"),
        ("${qs[b]}", "2 3"),
        ("${cookie[c]}", "v"),
        ("${mime[FILE]}", "image/png"),
        ("${hex[PATH_INFO]}", "2f70"),
        ("${base64[PATH_INFO]}", "L3A="),
        ("${upper[PATH_INFO]}", "/P"),
        ("${lower[MIXED]}", "abc"),
        ("${math[N*2+1]}", "15"),
        ("${math[N/0]}", ""),
        ("${math[__import__('os')]}", ""),
        ("${uwsgi[wid]}", "3"),
        ("${uwsgi[status]}", "201"),
        ("$x ${unclosed", "$x ${unclosed"),
    ],
)
def test_route_variables(template: str, expected: str) -> None:
    ctx = RouteContext(
        {
            "PATH_INFO": "/p",
            "QUERY_STRING": "a=1&b=2+3",
            "HTTP_COOKIE": "a=b; c=v",
            "FILE": "/x/y.png",
            "MIXED": "AbC",
            "N": "7",
        },
        wid=3,
    )
    ctx.captures = ("/pa", "a")
    ctx.status = 201
    assert Template(template).render(ctx) == expected


def test_time_variables_are_numbers_and_dates() -> None:
    ctx = RouteContext({})
    assert Template("${time[unix]}").render(ctx).isdigit()
    assert len(Template("${time[micros]}").render(ctx)) >= 16
    assert Template("${httptime[60]}").render(ctx).endswith(" GMT")
    assert len(Template("${uwsgi[uuid]}").render(ctx)) == 36


def test_captured_text_is_not_expanded_again() -> None:
    table = _table(("route", "^/(.*) addvar:GOT=$1"))
    ctx = RouteContext({"PATH_INFO": "/${HTTP_SECRET}", "HTTP_SECRET": "s3cr3t"})
    run(table.request, ctx)
    assert ctx.vars["GOT"] == "${HTTP_SECRET}"


def test_redirect_targets_cannot_split_headers() -> None:
    table = _table(("route", "^/ redirect:/to${PATH_INFO}"))
    ctx = RouteContext({"PATH_INFO": "/a\r\nSet-Cookie: x=1 é"})
    run(table.request, ctx)
    assert ctx.answer is not None
    location = dict(ctx.answer.headers)["Location"]
    assert location == "/to/a%0D%0ASet-Cookie:%20x=1%20%E9"


@pytest.mark.parametrize(
    ("rule", "var", "expected"),
    [
        ("setuser:bob:ignored", "REMOTE_USER", "bob"),
        ("sethome:/venv", "UWSGI_HOME", "/venv"),
        ("setfile:/app.py", "UWSGI_FILE", "/app.py"),
        ("setscheme:https", "UWSGI_SCHEME", "https"),
        ("setremoteaddr:10.0.0.1", "REMOTE_ADDR", "10.0.0.1"),
        ("-:N,3", "N", "4"),
        ("*:N,3", "N", "21"),
        ("/:N,2", "N", "3"),
        ("/:N,0", "N", "0"),
        ("+:N", "N", "8"),
    ],
)
def test_var_actions(rule: str, var: str, expected: str) -> None:
    ctx = RouteContext({"PATH_INFO": "/", "N": "7"})
    assert run(_table(("route-run", rule)).request, ctx) == CONTINUE
    assert ctx.vars[var] == expected


def test_modifier_actions_and_the_uwsgi_remapper() -> None:
    ctx = RouteContext({"PATH_INFO": "/"})
    run(_table(("route-run", "setmodifier1:9"), ("route-run", "setmodifier2:2")).request, ctx)
    assert (ctx.modifier1, ctx.modifier2) == (9, 2)
    ctx = RouteContext({"PATH_INFO": "/"})
    assert run(_table(("route-run", "uwsgi:,14,0,phpapp")).request, ctx) == CONTINUE
    assert (ctx.modifier1, ctx.vars["UWSGI_APPID"]) == (14, "phpapp")
    ctx = RouteContext({"PATH_INFO": "/"})
    assert run(_table(("route-run", "uwsgi:/tmp/x.sock,0,0")).request, ctx) == BREAK
    assert ctx.forward is not None and ctx.forward.address == "/tmp/x.sock"


def test_goto_by_rule_number_and_labels_per_chain() -> None:
    table = _table(
        ("route-run", "goto:2"),
        ("route-run", "return:500"),
        ("route-run", "addvar:A=1"),
        ("final-route-run", "goto:end"),
        ("final-route-run", "addvar:B=1"),
        ("final-route-label", "end"),
    )
    ctx = RouteContext({"PATH_INFO": "/"})
    assert run(table.request, ctx) == CONTINUE and ctx.vars["A"] == "1"
    assert run(table.final, ctx) == CONTINUE and "B" not in ctx.vars
    dumped = "\n".join(table.dump())
    assert "*** dumping internal final routing table ***\n[rule: 0] action: goto:end" in dumped


def test_xattr_variable(tmp_path: Path) -> None:
    import os

    target = tmp_path / "tagged"
    target.write_text("x")
    try:
        os.setxattr(target, "user.polyhost.tag", b"blue")
    except OSError:
        pytest.skip("this file system has no user xattrs")
    ctx = RouteContext({"FILE": str(target)})
    assert Template("${xattr[FILE:user.polyhost.tag]}").render(ctx) == "blue"
    assert Template("${xattr[FILE:user.none]}").render(ctx) == ""


def test_random_requests_through_every_condition_and_variable() -> None:
    """Bounded fuzz: client-made vars through every condition and route variable never raise."""
    import random

    rng = random.Random(16)
    alphabet = "/;:.=&%$[]{}()*+?\\\x00\x1b\r\n\u00e9 aZ09-_~"
    names = sorted(ALL_CONDITIONS)
    rules = [
        ("route-if", f"{name}:${{HTTP_X_A}};${{HTTP_X_B}} addvar:HIT_{n}=${{HTTP_X_A}}")
        for n, name in enumerate(names)
        if name not in ("regexp", "re", "incache")
    ]
    rules.append(("route-if", "regexp:${HTTP_X_A};^(.)(.*)$ addvar:R=$2$1"))
    variables = "".join(
        f"${{{f}[HTTP_X_A]}}"
        for f in ("cookie", "qs", "mime", "hex", "base64", "math", "upper", "lower", "xattr")
    )
    rules.append(("route-run", f"addvar:V={variables}"))
    table = _table(*rules)
    for _ in range(300):

        def text() -> str:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))

        env = {"PATH_INFO": text(), "HTTP_X_A": text(), "HTTP_X_B": text(), "HTTP_COOKIE": text(),
               "QUERY_STRING": text()}  # fmt: skip
        ctx = RouteContext(env)
        assert run(table.request, ctx) == CONTINUE
