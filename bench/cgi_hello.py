"""Hello-world CGI: polyhost vs uWSGI's cgi plugin, a shell script forked per request.

`bench/apps/cgi/hello.cgi` (a /bin/sh script printing a header and `hello`), 2 workers each,
the same wrk runs as bench/wsgi_hello.py (keep-alive on and off). Target of issue 7:
polyhost >= 1.0x uWSGI.
"""

import sys

from harness import (
    KEEP_ALIVE,
    NO_KEEP_ALIVE,
    REPO,
    Comparison,
    Metric,
    Ratio,
    Server,
    in_both_modes,
    polyhost_argv,
    run_comparison,
    uwsgi_argv,
)

CGI_DIR = REPO / "bench" / "apps" / "cgi"


def polyhost(port: int, mode_name: str) -> list[str]:
    return polyhost_argv(port, "--http-socket-modifier1", "9", "--cgi", str(CGI_DIR))


def uwsgi(port: int, mode_name: str) -> list[str]:
    # the cgi plugin relays no Content-Length: --http-socket in both modes
    return uwsgi_argv(
        port, mode_name, "cgi", "--http-socket-modifier1", "9", "--cgi", str(CGI_DIR),
        keep_alive=False,
    )  # fmt: skip


CGI = Comparison(
    title="Hello-world CGI (/bin/sh): polyhost vs uWSGI cgi plugin (2 workers each)",
    servers=[
        Server(
            "polyhost", polyhost, version_command=(str(REPO / ".venv/bin/polyhost"), "--version")
        ),
        Server(
            "uWSGI",
            uwsgi,
            version_command=("uwsgi", "--version"),
            note="--http-socket in both modes (uWSGI closes every connection); its cgi plugin "
            "is in uwsgi-core",
        ),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio(
            "polyhost",
            "uWSGI",
            Metric.REQUESTS_PER_SECOND,
            in_both_modes(1.0),
        ),
    ],
    path="/hello.cgi",
)

if __name__ == "__main__":
    sys.exit(run_comparison(CGI, sys.argv[1:]))
