"""Hello-world JWSGI and Clojure/Ring: polyhost's JVM runtime (JPype) vs real uWSGI 2.0's jvm,
jwsgi and ring plugins for OpenJDK 17.

JWSGI: `tests/apps/jvm/java/JwsgiHello.java` (built here with javac) returning the 11-byte
`Hello World`; Ring: `tests/apps/jvm/hello.clj` on Debian's clojure jar. Each served by polyhost
and by uWSGI, 2 workers each, on an http-socket with modifier1 8 (modifier2 0 JWSGI, 1 Ring).
After the wrk runs, each server is started once more to time its first answer (worker spawn,
JVM start, Clojure load); polyhost's JVM start-up line is quoted.
Run `python bench/jvm_hello.py -h`.
"""

import os
import subprocess
import sys
from pathlib import Path

from harness import (
    KEEP_ALIVE,
    NO_KEEP_ALIVE,
    REPO,
    Comparison,
    Metric,
    Ratio,
    Server,
    print_first_answers,
    run_comparison,
)

JWSGI_SOURCE = REPO / "tests" / "apps" / "jvm" / "java" / "JwsgiHello.java"
RING_FILE = "tests/apps/jvm/hello.clj"
RING_APP = "polyhost.test.hello:handler"
#: uWSGI's own `uwsgi` class (uwsgi-plugin-jvm-openjdk-17) and Debian's Clojure
UWSGI_JAR = "/usr/share/java/uwsgi.jar"
CLOJURE_JAR = "/usr/share/java/clojure.jar"
BUILD = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "polyhost" / "bench"


def jwsgi_classes() -> Path:
    """JwsgiHello.class, compiled once (and again when the source is newer)."""
    out = BUILD / "jwsgi-hello"
    built = out / "JwsgiHello.class"
    if not built.exists() or built.stat().st_mtime < JWSGI_SOURCE.stat().st_mtime:
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["javac", "-nowarn", "-d", str(out), str(JWSGI_SOURCE)], check=True)
    return out


def socket_option(server: str, mode_name: str) -> str:
    # uWSGI 2.0's --http-socket closes every connection; --http11-socket keeps it alive.
    if server == "uwsgi" and mode_name == KEEP_ALIVE.name:
        return "--http11-socket"
    return "--http-socket"


def jwsgi_command(server: str):
    def command(port: int, mode_name: str) -> list[str]:
        head = (
            ["uwsgi", "--plugins", "jvm_openjdk17,jwsgi_openjdk17", "--jvm-classpath", UWSGI_JAR]
            if server == "uwsgi"
            else [str(REPO / ".venv/bin/polyhost")]
        )
        return [
            *head,
            socket_option(server, mode_name), f"127.0.0.1:{port}",
            "--http-socket-modifier1", "8", "--http-socket-modifier2", "0",
            "--master", "--processes", "2",
            "--jvm-classpath", str(jwsgi_classes()),
            "--jwsgi", "JwsgiHello:application",
            "--disable-logging",
        ]  # fmt: skip

    return command


def ring_command(server: str):
    def command(port: int, mode_name: str) -> list[str]:
        head = (
            [
                "uwsgi",
                "--plugins",
                "jvm_openjdk17,ring_openjdk17",
                "--jvm-classpath",
                UWSGI_JAR,
                "--jvm-classpath",
                CLOJURE_JAR,
            ]
            if server == "uwsgi"
            else [str(REPO / ".venv/bin/polyhost")]
        )
        return [
            *head,
            socket_option(server, mode_name), f"127.0.0.1:{port}",
            "--http-socket-modifier1", "8", "--http-socket-modifier2", "1",
            "--master", "--processes", "2",
            "--ring-load", RING_FILE, "--ring-app", RING_APP,
            "--disable-logging",
        ]  # fmt: skip

    return command


UWSGI_NOTE = (
    "uwsgi-plugin-jvm-openjdk-17 with its uwsgi.jar; keep-alive mode uses --http11-socket "
    "(see bench/README.md: a sync worker keeps its client's connection, so only 2 of wrk's "
    "connections are served)"
)
COMPARISON = Comparison(
    title="Hello-world JWSGI and Ring: polyhost vs uWSGI's jvm plugins (2 workers each)",
    servers=[
        Server(
            name="polyhost JWSGI",
            command=jwsgi_command("polyhost"),
            version_command=(str(REPO / ".venv/bin/polyhost"), "--version"),
            start_timeout_s=90,
        ),
        Server(
            name="uWSGI JWSGI",
            command=jwsgi_command("uwsgi"),
            version_command=("uwsgi", "--version"),
            start_timeout_s=90,
            note=UWSGI_NOTE,
        ),
        Server(name="polyhost Ring", command=ring_command("polyhost"), start_timeout_s=90),
        Server(
            name="uWSGI Ring",
            command=ring_command("uwsgi"),
            start_timeout_s=90,
            note="uwsgi-plugin-ring-openjdk-17, clojure.jar from Debian's clojure package",
        ),
    ],
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost JWSGI", "uWSGI JWSGI", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 0.6}),
        Ratio("polyhost Ring", "uWSGI Ring", Metric.REQUESTS_PER_SECOND, {KEEP_ALIVE.name: 0.6}),
        Ratio("polyhost JWSGI", "uWSGI JWSGI", Metric.P99_LATENCY),
        Ratio("polyhost Ring", "uWSGI Ring", Metric.P99_LATENCY),
    ],
)


if __name__ == "__main__":
    code = run_comparison(COMPARISON)
    print_first_answers(
        COMPARISON,
        "start-up (spawn to the first 200)",
        startup=("JVM start", " started in ", "s "),
    )
    sys.exit(code)
