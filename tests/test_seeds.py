"""The seeds corpus: the runnable examples of the uWSGI docs users learn from (../shared/seeds),
typed as the docs give them with only `uwsgi` -> `polyhost` and their ports moved to free
loopback ports (`--plugin(s)` stay: polyhost accepts them, and `plugin = php` alone serves
PHP). The apps are ours (tests/apps/seeds/corpus), written as the docs show them.

An example that needs a feature of another open issue is in WAITS_ON: it runs, and it is a
strict expected failure named after that issue (it fails at once when polyhost says an option
it needs is not available yet); when the issue's branch lands it passes, the strict xfail
fails loudly, and its line here is deleted. The suite prints how many seed examples pass
(tests/conftest.py's summary); that number only goes up.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import (
    APPS,
    POLYHOST,
    ROOT,
    Instance,
    free_port,
    get,
    http_request,
    split_response,
    uwsgi_request,
    wait_for,
)
from nginx_helper import Nginx

CORPUS = APPS / "seeds" / "corpus"
#: the documents users learn uWSGI from, beside the repository (../shared/seeds), or beside
#: the directory of worktrees when the checkout is a worktree two levels down (../../shared/seeds)
SEEDS = next(
    (d / "shared" / "seeds" for d in ROOT.parents[:2] if (d / "shared" / "seeds").is_dir()),
    ROOT.parent / "shared" / "seeds",
)

#: the open issues examples wait on, by their subjects
#: the interpreter's files are in a directory other users cannot enter (a pyenv under /root)
PYTHON_HIDDEN = any(not os.stat(p).st_mode & 0o001 for p in Path(os.__file__).parents)

#: THE table: example id -> the issue it waits on. When a branch lands, delete its lines.
WAITS_ON: dict[str, str] = {}
#: what a waiting example's log says when polyhost will not get there: no use waiting longer
GIVES_UP = ("not available yet", "cannot start vassal")


@dataclass(frozen=True)
class Example:
    """One example: where the docs give it, the command as typed, the files it needs, and how
    a user sees it work (a page through the socket it binds, directly or behind nginx)."""

    id: str
    command: str
    #: files copied from the corpus into the example's directory (`NAME=FILE`: renamed)
    apps: tuple[str, ...] = ()
    #: config files the docs show, written into the directory (name -> text)
    configs: dict[str, str] = field(default_factory=dict)
    #: the owner given to a config file, as `chown USER:GROUP FILE` (tyrant mode)
    owners: dict[str, str] = field(default_factory=dict)
    #: a `django-admin startproject NAME` in the directory first
    django: str = ""
    #: how the page is fetched: "http" straight from the socket, "nginx" via uwsgi_pass
    front: str = "http"
    #: the docs' port (or socket path, relative to the directory) the page comes through
    listen: str = ""
    #: nginx's location options for a "nginx" front ({dir} is the example's directory)
    location: str = ""
    path: str = "/"
    status: int = 200
    expect: bytes = b"Hello World"
    #: a response header the docs say the page has (name, value)
    header: tuple[str, str] = ("", "")
    #: environment variables the platform sets (Heroku's PORT): a docs port moves like the others
    env: dict[str, str] = field(default_factory=dict)
    #: the docs' `foobar.local:9090` is a web server serving the example's directory
    web: bool = False
    #: False when the page itself is not the check (it sleeps 60 s): only `then` is
    page: bool = True
    #: an extra check once the page is served (stats, management commands ...)
    then: Callable[[Run], None] | None = None
    #: it drops privileges (uid, a tyrant's file owners): polyhost runs from an interpreter
    #: that user can read, as a user installs it for a uid (`readable_python`)
    drops: bool = False


@dataclass(frozen=True)
class Python:
    """A way to run polyhost: its command line and the environment variables it needs."""

    command: list[str]
    env: dict[str, str]


@dataclass
class Run:
    """An example being run: its directory, its ports and its instance."""

    example: Example
    dir: Path
    ports: dict[str, int]
    inst: Instance | None = None
    #: host:port of the docs' `foobar.local:9090` web server, for examples with `web`
    web: str = ""
    #: the polyhost command and the environment it needs (`readable_python` for `drops`)
    python: Python = field(default_factory=lambda: Python(POLYHOST, {}))

    def port(self, docs_port: str) -> int:
        return self.ports[docs_port]


_PORT = re.compile(r"(?<![\w.:/])(?:(?:127\.0\.0\.1|0\.0\.0\.0|localhost))?:(\d{4,5})\b")


def _localize(text: str, run: Run) -> str:
    """The docs' text with its ports on free loopback ports and its paths in the directory."""

    def port(match: re.Match[str]) -> str:
        docs_port = match.group(1)
        run.ports.setdefault(docs_port, free_port())
        return f"127.0.0.1:{run.ports[docs_port]}"

    if run.web:
        text = text.replace("foobar.local:9090", run.web)
    text = text.replace("/home/foobar/myproject/", f"{run.dir}/")
    text = text.replace("/path/to/your/project", str(run.dir))
    for docs_dir, ours in (("/etc/uwsgi/vassals", "vassals"), ("/etc/vassals", "vassals")):
        text = text.replace(docs_dir, f"{run.dir}/{ours}")
    text = text.replace("/opt/apps", f"{run.dir}/apps")
    text = text.replace("/var/run/", f"{run.dir}/")
    text = text.replace("/tmp/sockets/", f"{run.dir}/sockets/")
    text = text.replace("/private", f"{run.dir}/private")
    for docs_file in ("/tmp/tbsocket", "/tmp/yourfifo", "/tmp/fifo"):
        text = text.replace(docs_file, f"{run.dir}/{docs_file[5:]}")
    text = text.replace("/tmp/project-master.pid", f"{run.dir}/project-master.pid")
    return _PORT.sub(port, text)


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] in ("uwsgi", "./uwsgi"), f"a seed command starts with uwsgi: {command}"
    return words[1 : words.index("#") if "#" in words else len(words)]  # a shell comment ends it


def _fetch(run: Run, path: str = "") -> bytes:
    example = run.example
    path = path or example.path
    if example.front == "http":
        return get(run.port(example.listen), path, host="127.0.0.1")
    if example.listen.isdigit():
        upstream = f"127.0.0.1:{run.port(example.listen)}"
    else:
        upstream = f"unix:{run.dir / example.listen}"
    location = example.location.format(dir=run.dir)  # uwsgi_params: nginx_helper includes them
    nginx = Nginx(run.dir, f"location / {{ {location} uwsgi_pass {upstream}; }}")
    try:
        return get(nginx.port, path, host="127.0.0.1")
    finally:
        nginx.stop()


def _ready(run: Run) -> bool:
    inst = run.inst
    assert inst is not None
    if inst.proc.poll() is not None:
        raise AssertionError(f"polyhost exited with {inst.proc.returncode}:\n{inst.log()}")
    log = inst.log()
    given_up = [line for line in log.splitlines() if any(text in line for text in GIVES_UP)]
    if given_up and run.example.id in WAITS_ON:
        raise AssertionError("\n".join(given_up))
    if "spawned polyhost worker" not in log:
        return False
    listen = run.example.listen
    if not listen.isdigit():
        return (run.dir / listen).exists()
    try:
        socket.create_connection(("127.0.0.1", run.port(listen)), timeout=0.5).close()
        return True
    except OSError:
        return False


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The test's web server logs nothing."""


@contextlib.contextmanager
def _web_server(run: Run) -> Iterator[None]:
    """The docs' foobar.local: a web server on loopback serving the example's directory."""
    handler = functools.partial(_QuietFiles, directory=str(run.dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    run.web = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def run_example(example: Example, tmp_path: Path, python: Python | None = None) -> None:
    run = Run(example, tmp_path, {})
    if python is not None:
        run.python = python
    with _web_server(run) if example.web else contextlib.nullcontext():
        _run_example(run)


def _start(argv: list[str], directory: Path, command: list[str], env: dict[str, str]) -> Instance:
    """polyhost started by `command` in `directory`, its process environment's with `env`."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # Instance's process inherits the environment
    try:
        return Instance(argv, directory, None, directory, command)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def _run_example(run: Run) -> None:
    example, tmp_path = run.example, run.dir
    for name in example.apps:  # NAME, or NAME=FILE: the docs' name for a corpus file
        target, _, source = name.partition("=")
        shutil.copy(CORPUS / (source or target), tmp_path / target)
    if example.django:
        subprocess.run(
            [sys.executable, "-m", "django", "startproject", example.django, str(tmp_path)],
            check=True,
            timeout=60,
        )
    for name, text in example.configs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(_localize(text, run))
    for name, owner in example.owners.items():
        user, _, group = owner.partition(":")
        shutil.chown(tmp_path / name, user, group or None)
    argv = _argv(_localize(example.command, run))
    environ = {
        name: str(run.ports.setdefault(port, free_port())) for name, port in example.env.items()
    } | run.python.env
    run.inst = _start(argv, tmp_path, run.python.command, environ)
    try:
        try:
            wait_for(lambda: _ready(run), 30, f"{example.id} to serve")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{run.inst.log()}") from None
        if example.page:
            status, headers, body = split_response(_fetch(run))
            assert status == example.status and example.expect in body, (status, body[:300])
            name, value = example.header
            assert not name or headers.get(name.lower()) == _localize(value, run), headers
        if example.then is not None:
            example.then(run)
    finally:
        code = run.inst.stop()
    assert code == 0, run.inst.log()


# -- the checks after the page ---------------------------------------------------------------
def _stats_answer(run: Run) -> None:
    _stats_of(run, "9191", workers=4)


def _stats_of(run: Run, docs_port: str, workers: int) -> None:
    with socket.create_connection(("127.0.0.1", run.port(docs_port)), timeout=10) as sock:
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    stats = json.loads(data)
    assert len(stats["workers"]) == workers and stats["workers"][0]["cores"]


def _memory_in_the_request_log(run: Run) -> None:
    assert run.inst is not None
    line = str(run.inst.wait_log("{address space usage: "))
    assert re.search(r"\{rss usage: \d+ bytes/\d+MB\} \[pid: \d+\|app: 0\|", line), line


def _manage(run: Run, command: str) -> subprocess.CompletedProcess[bytes]:
    """A management command of the docs (`uwsgi --reload FILE` ...), run to its end."""
    argv = [*POLYHOST, *_argv(_localize(command, run))]
    done = subprocess.run(argv, cwd=run.dir, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, (command, done.stderr.decode(errors="replace"))
    return done


def _reload_by_pidfile(run: Run) -> None:
    inst = run.inst
    assert inst is not None
    _manage(run, "uwsgi --reload /tmp/project-master.pid")
    wait_for(lambda: inst.log().count("spawned polyhost worker") == 2, 30, "the reloaded worker")
    status, _, body = split_response(_fetch(run))
    assert status == 200 and body == b"Hello World" and "inherited" in inst.log()


def _stop_by_pidfile(run: Run) -> None:
    assert run.inst is not None
    _manage(run, "uwsgi --stop /tmp/project-master.pid")
    assert run.inst.proc.wait(30) == 0
    assert "SIGINT/SIGQUIT received" in run.inst.log()


def _connect_and_read_stats(run: Run) -> None:
    stats = json.loads(_manage(run, "uwsgi --connect-and-read 127.0.0.1:1717").stdout)
    assert len(stats["workers"]) == 8 and stats["pid"] == run.inst.pid  # type: ignore[union-attr]


def _edited_module_reloads(run: Run) -> None:
    app = run.dir / "foobar.py"
    app.write_text(app.read_text().replace("Hello World", "Hello again"))

    def page() -> bytes:
        try:
            status, _, body = split_response(_fetch(run))
        except OSError:  # the instance is reloading
            return b""
        return body if status == 200 and body == b"Hello again" else b""

    wait_for(page, 30, "the edited app to answer")
    assert f"module/file {app} has been modified" in run.inst.log()  # type: ignore[union-attr]


def _tracebacks_of_sleeping_requests(run: Run) -> None:
    """The page's `curl http://localhost:8080 &` (its requests sleep 60 s), then
    `./uwsgi --connect-and-read /tmp/tbsocket.1`; a brutal stop ends the sleepers."""
    assert run.inst is not None
    curls = [socket.create_connection(("127.0.0.1", run.port("8080")), timeout=10) for _ in "ab"]
    try:
        for curl in curls:
            curl.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")

        def dump() -> str:  # the page reads the first two workers
            if not all(os.path.exists(f"{run.dir}/tbsocket.{n}") for n in (1, 2)):
                return ""
            out = "".join(
                _manage(run, f"./uwsgi --connect-and-read /tmp/tbsocket.{n}").stdout.decode()
                for n in (1, 2)
            )
            return out if "function = dormi line = time.sleep(60)" in out else ""

        assert "function = dormi5 line = dormi4()" in str(wait_for(dump, 30, "a dump"))
    finally:
        for curl in curls:
            curl.close()
        run.inst.proc.send_signal(signal.SIGINT)
        run.inst.proc.wait(30)


def _fifo_reloads(run: Run, *echoes: tuple[str, str]) -> None:
    """`echo COMMAND > FIFO` for each, then the last command's graceful reload is seen."""
    inst = run.inst
    assert inst is not None
    spawned = inst.log().count("spawned polyhost worker")
    for command, fifo in echoes:
        path = _localize(fifo, run)
        wait_for(lambda p=path: os.path.exists(p), 30, f"the fifo {path}")  # type: ignore[misc]
        with open(path, "w") as pipe:  # the shell's `>`
            pipe.write(command + "\n")
    wait_for(lambda: inst.log().count("spawned polyhost worker") >= 2 * spawned, 30, "a reload")
    assert "binary reloading polyhost" in inst.log()


def _session_kept_in_the_cache(run: Run) -> None:
    port = run.port("9090")
    first = http_request(port, b"GET /session.php HTTP/1.0\r\nHost: t\r\n\r\n")
    cookie = split_response(first)[1]["set-cookie"].split(";")[0]
    for visit in (2, 3):
        request = f"GET /session.php HTTP/1.0\r\nHost: t\r\nCookie: {cookie}\r\n\r\n"
        body = split_response(http_request(port, request.encode()))[2]
        assert body == f"visits {visit} in cache yes".encode(), body


def _each_socket_its_worker(run: Run) -> None:
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_PROTOCOL": "HTTP/1.1"}
    for number in range(5):
        for _ in range(3):  # not one lucky answer
            answer = uwsgi_request(run.port(str(9091 + number)), env)
            assert split_response(answer)[2] == f"worker {number + 1}".encode(), answer


def _pages(run: Run, pages: dict[str, bytes]) -> None:
    """More pages of the example, each with the text the docs say it shows."""
    for path, text in pages.items():
        status, _, body = split_response(_fetch(run, path))
        assert status == 200 and text in body, (path, status, body[:300])


def _metric(run: Run, name: str) -> int:
    """The metric's value as the app reads it (metricapp.py: `/?NAME`)."""
    status, _, body = split_response(_fetch(run, f"/?{name}"))
    assert status == 200 and body.startswith(f"{name} ".encode()), (status, body)
    return int(body.split()[1])


def _gauge_at_zero(run: Run) -> None:
    assert _metric(run, "foobar") == 0


def _file_item(path: str, index: int) -> int:
    """Item `index` of the file split at whitespace, as the file collector reads it."""
    return int(float(Path(path).read_text().split()[index]))


def _loadavg_collected(run: Run) -> None:
    def collected() -> bool:  # every 3 s; the 5-minute load moves slowly
        return abs(_metric(run, "loadavg") - _file_item("/proc/loadavg", 1)) <= 1

    wait_for(collected, 30, "the loadavg metric to follow /proc/loadavg")


def _memory_collected(run: Run) -> None:
    wait_for(lambda: _metric(run, "memory") > 0, 30, "the memory metric (MemFree, kB)")


def _four_mules(run: Run, script: str = "") -> None:
    assert run.inst is not None
    for number in range(1, 5):
        run.inst.wait_log(f"mule {number} (pid: ")
    if script:
        log = run.inst.wait_log("Hi! I am loop2.")
        assert "loop1: Waiting for messages... yawn." in log
        assert log.count(f"ready: {script}") == 1, log


def _rack_app_loaded(run: Run) -> None:
    """Rack logs its app's load as the other runtimes do (issue 12 point 9)."""
    assert run.inst is not None
    line = r"Ruby/Rack app 0 \(/\) ready in worker \d+ in [\d.]+ seconds: app\.ru"
    assert re.search(line, run.inst.log()), run.inst.log()


def _eight_workers(run: Run) -> None:
    assert run.inst is not None
    wait_for(lambda: run.inst.log().count("spawned polyhost worker") >= 8, 30, "8 workers")


QUICKSTART_INI = """[uwsgi]
socket = 127.0.0.1:3031
chdir = /home/foobar/myproject/
wsgi-file = myproject/wsgi.py
processes = 4
threads = 2
stats = 127.0.0.1:9191
"""
PSGI_INI = "[uwsgi]\nsocket = 127.0.0.1:3031\npsgi = myapp.pl\nprocesses = 4\nmaster = true\n"
PSGI_XML = (
    "<uwsgi>\n<socket>127.0.0.1:3031</socket>\n<psgi>myapp.pl</psgi>\n"
    "<processes>4</processes>\n<master/>\n</uwsgi>\n"
)
PSGI_YAML = "uwsgi:\n  socket: 127.0.0.1:3031\n  psgi: myapp.pl\n  processes: 4\n  master: true\n"
RACK_INI = "[uwsgi]\nsocket = 127.0.0.1:3031\nrack = app.ru\nprocesses = 4\nmaster = true\n"
RACK_XML = PSGI_XML.replace("psgi>myapp.pl</psgi", "rack>app.ru</rack")
SINATRA_INI = (
    "[uwsgi]\nsocket = 127.0.0.1:3031\nrack = config.ru\nmaster = true\nprocesses = 4\n"
    "lazy-apps = true\n"
)
MYSITE_INI = """# mysite_uwsgi.ini file
[uwsgi]

# Django-related settings
# the base directory (full path)
chdir           = /path/to/your/project
# Django's wsgi file
module          = mysite.wsgi

# process-related settings
# master
master          = true
# maximum number of worker processes
processes       = 10
# the socket (use the full path to be safe
socket          = /path/to/your/project/mysite.sock
# ... with appropriate permissions - may be needed
# chmod-socket    = 664
# clear environment on exit
vacuum          = true
"""
SKEL_INI = """[uwsgi]
chdir = /path/to/your/project
master = true
socket = 127.0.0.1:3031
env = DJANGO_SETTINGS_MODULE=%n.settings
module = %n.wsgi:application
max-requests = 1000
"""
SM_ORG_INI = """master = 1
chdir = /path/to/your/project
module = wsgi
processes = 5
max-requests = 1000
plugins = python
socket = 127.0.0.1:3031
chmod-socket = 777
"""
SNIPPET_APP = "[uwsgi]\nhttp-socket = :9090\nwsgi-file = foobar.py\n"
SENDFILE_SNIPPET = """; load router_static plugin (compiled in by default in monolithic profiles)
plugins = router_static
; spawn 2 offload threads
offload-threads = 2
; files under /private can be safely served
static-safe = /private
; collect the X-Sendfile response header as X_SENDFILE var
collect-header = X-Sendfile X_SENDFILE
; if X_SENDFILE is not empty, pass its value to the "static" routing action
response-route-if-not = empty:${X_SENDFILE} static:${X_SENDFILE}
"""
FORCE_HTTPS = """plugins = router_redirect
route-if-not = equal:${HTTPS};on redirect-permanent:https://${HTTP_HOST}${REQUEST_URI}
"""
PHP_SESSIONS_INI = """[uwsgi]
plugins = php
http-socket = :9090
http-socket-modifier1 = 14
; create a cache with 1000 items named 'mysessions'
cache2 = name=mysessions,items=1000
; set the 'uwsgi' session handler
php-set = session.save_handler=uwsgi
; use the 'mysessions' cache for storing sessions
php-set = session.save_path=mysessions
"""
FLASK_MOUNTS_INI = """[uwsgi]
plugin = python
mount = /app1=app1.py
mount = /app2=app2.py
mount = /app3=app3.py
; generally flask apps expose the 'app' callable instead of 'application'
callable = app
; tell uWSGI to rewrite PATH_INFO and SCRIPT_NAME according to mount-points
manage-script-name = true
; bind to a socket
socket = /var/run/uwsgi.sock
"""
MAP_SOCKET_INI = """[uwsgi]
processes = 5
threads = 5
; create 5 sockets
socket = :9091
socket = :9092
socket = :9093
socket = :9094
socket = :9095
; map each socket (zero-indexed) to the specific worker
map-socket = 0:1
map-socket = 1:2
map-socket = 2:3
map-socket = 3:4
map-socket = 4:5
wsgi-file = whichworker.py
"""
HEROKU_INI = """[uwsgi]
http-socket = :$(PORT)
master = true
processes = 4
die-on-term = true
module = werkzeug.testapp:test_app
memory-report = true
"""
WERKZEUG_XML = """<uwsgi>
<module>werkzeug.testapp:test_app</module>
<master/>
<processes>4</processes>
<socket>127.0.0.1:3031</socket>
</uwsgi>
"""
FOOBAR_VASSAL = (
    "[uwsgi]\nsocket = 127.0.0.1:3031\nchdir = /path/to/your/project\nwsgi-file = foobar.py\n"
)
DJANGO_PAGE = b"The install worked successfully"
HELLO_WSGI = (CORPUS / "foobar.py").read_text()
PHP_LOCATION = "root {dir}; uwsgi_modifier1 14;"
LUA_LOCATION = "uwsgi_modifier1 6;"  # "remember to set modifier1 to 6 in your webserver"

EXAMPLES = [
    # -- the Python/WSGI quickstart (003 and its translation in 004) -----------------------
    Example(
        "003:61 quickstart --http",
        "uwsgi --http :9090 --wsgi-file foobar.py",
        ("foobar.py",),
        listen="9090",
    ),
    Example(
        "004:8583 lua over a uwsgi socket",
        "./uwsgi --socket 127.0.0.1:3031 --lua pippo.lua",
        ("pippo.lua",),
        front="nginx",
        listen="3031",
        location=LUA_LOCATION,
        expect=b"Hello Wsapi!",
    ),
    Example(
        "004:8588 lua multiprocess",
        "./uwsgi --socket 127.0.0.1:3031 --lua pippo.lua --processes 8 --master",
        ("pippo.lua",),
        front="nginx",
        listen="3031",
        location=LUA_LOCATION,
        expect=b"Hello Wsapi!",
    ),
    Example(
        "004:8590 lua multithread",
        "./uwsgi --socket 127.0.0.1:3031 --lua pippo.lua --threads 8 --master",
        ("pippo.lua",),
        front="nginx",
        listen="3031",
        location=LUA_LOCATION,
        expect=b"Hello Wsapi!",
    ),
    Example(
        "004:458 rack --plugins http,rack --http",
        "uwsgi --plugins http,rack --http :8080 --http-modifier1 7 --rack app.ru",
        ("app.ru",),
        listen="8080",
        expect=b"Hello",
    ),
    Example(
        "004:340 psgi with the master",
        "uwsgi --socket 127.0.0.1:3031 --psgi myapp.pl --processes 4 --master",
        ("myapp.pl",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:289 psgi --plugins http,psgi --http",
        "uwsgi --plugins http,psgi --http :8080 --http-modifier1 5 --psgi myapp.pl",
        ("myapp.pl",),
        listen="8080",
    ),
    Example(
        "004:301 psgi behind nginx",
        "uwsgi --socket 127.0.0.1:3031 --psgi myapp.pl",
        ("myapp.pl",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "003:73 --http with processes and threads",
        "uwsgi --http :9090 --wsgi-file foobar.py --master --processes 4 --threads 2",
        ("foobar.py",),
        listen="9090",
    ),
    Example(
        "003:81 --http with stats",
        "uwsgi --http :9090 --wsgi-file foobar.py --master --processes 4 --threads 2 "
        "--stats 127.0.0.1:9191",
        ("foobar.py",),
        listen="9090",
    ),
    Example(
        "003:104 --socket behind nginx with stats",
        "uwsgi --socket 127.0.0.1:3031 --wsgi-file foobar.py --master --processes 4 "
        "--threads 2 --stats 127.0.0.1:9191",
        ("foobar.py",),
        front="nginx",
        listen="3031",
        then=_stats_answer,
    ),
    Example(
        "003:110 --http-socket",
        "uwsgi --http-socket 127.0.0.1:3031 --wsgi-file foobar.py --master --processes 4 "
        "--threads 2 --stats 127.0.0.1:9191",
        ("foobar.py",),
        listen="3031",
        then=_stats_answer,
    ),
    Example(
        "003:126 django wsgi.py file behind nginx",
        "uwsgi --socket 127.0.0.1:3031 --chdir /home/foobar/myproject/ "
        "--wsgi-file myproject/wsgi.py --master --processes 4 --threads 2 "
        "--stats 127.0.0.1:9191",
        django="myproject",
        front="nginx",
        listen="3031",
        expect=DJANGO_PAGE,
    ),
    Example(
        "003:144 django quickstart ini",
        "uwsgi yourfile.ini",
        configs={"yourfile.ini": QUICKSTART_INI},
        django="myproject",
        front="nginx",
        listen="3031",
        expect=DJANGO_PAGE,
    ),
    Example(
        "004:149 flask --callable app",
        "uwsgi --socket 127.0.0.1:3031 --wsgi-file myflaskapp.py --callable app "
        "--processes 4 --threads 2 --stats 127.0.0.1:9191",
        ("myflaskapp.py",),
        front="nginx",
        listen="3031",
        expect=b"I am app 1",
    ),
    Example(
        "003:252 --ini file:section",
        "uwsgi --ini myconf.ini:app1",
        ("foobar.py",),
        configs={
            "myconf.ini": "[uwsgi]\nsocket = /tmp/never.sock\n[app1]\n"
            "http-socket = 127.0.0.1:3031\nwsgi-file = foobar.py\nworkers = 3\n"
        },
        listen="3031",
    ),
    Example(
        "003:256 ini = :section of this file",
        "uwsgi myconf.ini",
        ("foobar.py",),
        configs={
            "myconf.ini": "[uwsgi]\n# This will load the app1 section below\nini = :app1\n"
            "master = true\n\n[app1]\nplugin = rack\nhttp-socket = 127.0.0.1:3031\n"
            "wsgi-file = foobar.py\n"
        },
        listen="3031",
    ),
    Example(
        "003:298 --reload PIDFILE",
        "uwsgi --http-socket 127.0.0.1:3031 --wsgi-file foobar.py --master "
        "--pidfile /tmp/project-master.pid",  # the instance the docs reload
        ("foobar.py",),
        listen="3031",
        then=_reload_by_pidfile,
    ),
    Example(
        "003:318 --stop PIDFILE",
        "uwsgi --http-socket 127.0.0.1:3031 --wsgi-file foobar.py --master "
        "--pidfile /tmp/project-master.pid",
        ("foobar.py",),
        listen="3031",
        then=_stop_by_pidfile,
    ),
    Example(
        "004:5746 --connect-and-read the stats server",
        "uwsgi --socket :3031 --stats :1717 --module welcome --master --processes 8",
        ("welcome.py",),
        front="nginx",
        listen="3031",
        then=_connect_and_read_stats,
    ),
    Example(
        "004:816 three flask apps on mountpoints",
        "uwsgi flask.ini",
        ("app1.py", "app2.py", "app3.py"),
        configs={"flask.ini": FLASK_MOUNTS_INI},
        front="nginx",
        listen="uwsgi.sock",
        path="/app2/",
        expect=b"Hello World! i am app2",
        then=lambda run: _pages(run, {"/app1/": b"i am app1", "/app3/": b"i am app3"}),
    ),
    Example(
        "004:751 py-autoreload",
        "uwsgi dev.ini",
        ("foobar.py",),
        configs={  # the page's `...` is the quickstart's app
            "dev.ini": "[uwsgi]\nhttp-socket = :9090\nwsgi-file = foobar.py\nmaster = true\n"
            "py-autoreload = 2\n"
        },
        listen="9090",
        then=_edited_module_reloads,
    ),
    Example(
        "004:7635 py-tracebacker, read with --connect-and-read",
        "uwsgi --http :8080 -w slow --master --processes 2 --threads 4 "
        "--py-tracebacker /tmp/tbsocket.",
        ("slow.py",),
        listen="8080",
        page=False,
        then=_tracebacks_of_sleeping_requests,
    ),
    Example(
        "004:882 echo r > the master fifo",
        "uwsgi --http-socket :9090 --wsgi-file foobar.py --master --master-fifo /tmp/yourfifo",
        ("foobar.py",),  # the page's instance: the quickstart's app with a master fifo
        listen="9090",
        then=lambda run: _fifo_reloads(run, ("r", "/tmp/yourfifo")),
    ),
    Example(
        "004:912 master fifo slots",
        "uwsgi fifo.ini",
        ("foobar.py",),
        configs={
            "fifo.ini": "[uwsgi]\nmaster-fifo = /tmp/fifo0\nmaster-fifo = /tmp/fifo1\n"
            "master-fifo = /var/run/foofifo\nprocesses = 2\n"
            "http-socket = :9090\nwsgi-file = foobar.py\n"  # the page's `...`
        },
        listen="9090",
        then=lambda run: _fifo_reloads(run, ("1", "/tmp/fifo0"), ("r", "/tmp/fifo1")),
    ),
    # -- the snippets page: each `...` is the quickstart's app on an http-socket -------------
    Example(
        "004:710 X-Sendfile emulation",
        "uwsgi sendfile.ini",
        ("sendfile.py",),
        configs={
            "sendfile.ini": "[uwsgi]\nhttp-socket = :9090\nwsgi-file = sendfile.py\n"
            "env = SENDFILE=/private/report.txt\n" + SENDFILE_SNIPPET,
            "private/report.txt": "the report\n",
        },
        listen="9090",
        expect=b"the report",
    ),
    Example(
        "004:724 force HTTPS",
        "uwsgi https.ini",
        ("foobar.py",),
        configs={"https.ini": SNIPPET_APP + FORCE_HTTPS},
        listen="9090",
        path="/some/page?x=1",
        status=301,
        expect=b"",
        header=("Location", "https://127.0.0.1/some/page?x=1"),  # the Host the client sent,
    ),
    Example(
        "004:731 force HTTPS for /admin only",
        "uwsgi https.ini",
        ("foobar.py",),
        configs={
            "https.ini": SNIPPET_APP + "plugins = router_redirect\nroute = ^/admin goto:https\n"
            "route-run = last:\nroute-label = https\n" + FORCE_HTTPS.split("\n", 1)[1]
        },
        listen="9090",
        path="/admin/login",
        status=301,
        expect=b"",
        header=("Location", "https://127.0.0.1/admin/login"),
    ),
    Example(
        "004:11286 --ini http://",
        "uwsgi --ini http://foobar.local:9090/test.ini",
        ("foobar.py",),
        configs={  # the docs do not show test.ini: the quickstart's, app path absolute
            "test.ini": "[uwsgi]\nhttp-socket = :8080\n"
            "wsgi-file = /path/to/your/project/foobar.py\n"
        },
        web=True,
        listen="8080",
    ),
    Example(
        "004:6848 --uid with --limit-as",
        "uwsgi --uid 1001 -w customer1app --limit-as 128 -p 3 -M -s 127.0.0.1:3031",
        ("customer1app.py",),
        front="nginx",
        listen="3031",
        drops=True,
    ),
    # -- Heroku: the Procfile's `web: uwsgi uwsgi.ini`, PORT set by the platform --------------
    Example(
        "004:1676 heroku uwsgi.ini",
        "uwsgi uwsgi.ini",
        configs={"uwsgi.ini": HEROKU_INI},
        env={"PORT": "5000"},
        listen="5000",
        expect=b"<title>WSGI Information</title>",
        then=_memory_in_the_request_log,
    ),
    Example(
        "004:1746 heroku uwsgi.ini with stats for uwsgitop",
        "uwsgi uwsgi.ini",
        configs={"uwsgi.ini": HEROKU_INI + "stats = :22222\n"},
        env={"PORT": "5000"},
        listen="5000",
        expect=b"<title>WSGI Information</title>",
        then=lambda run: _stats_of(run, "22222", workers=4),
    ),
    Example(
        "004:2383 map-socket: one socket per worker",
        "uwsgi five.ini",
        ("whichworker.py",),
        configs={"five.ini": MAP_SOCKET_INI},
        front="nginx",
        listen="9091",
        expect=b"worker 1",
        then=_each_socket_its_worker,
    ),
    # -- the Perl/PSGI quickstart -------------------------------------------------------------
    Example(
        "004:286 psgi --http-modifier1",
        "uwsgi --http :8080 --http-modifier1 5 --psgi myapp.pl",
        ("myapp.pl",),
        listen="8080",
    ),
    Example(
        "004:312 psgi --http-socket-modifier1",
        "uwsgi --http-socket 127.0.0.1:3031 --http-socket-modifier1 5 --psgi myapp.pl",
        ("myapp.pl",),
        listen="3031",
    ),
    Example(
        "004:317 psgi behind nginx with processes",
        "uwsgi --socket 127.0.0.1:3031 --psgi myapp.pl --processes 4",
        ("myapp.pl",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:319 psgi with threads",
        "uwsgi --socket 127.0.0.1:3031 --psgi myapp.pl --threads 8",
        ("myapp.pl",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:321 psgi with threads and processes",
        "uwsgi --socket 127.0.0.1:3031 --psgi myapp.pl --threads 8 --processes 4",
        ("myapp.pl",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:334 psgi --coroae",
        "uwsgi --socket 127.0.0.1:3031 --psgi myapp.pl --coroae 1000 --processes 4",
        ("myapp.pl",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:359 psgi ini",
        "uwsgi yourconfig.ini",
        ("myapp.pl",),
        configs={"yourconfig.ini": PSGI_INI},
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:361 psgi --ini yourconfig.foo",
        "uwsgi --ini yourconfig.foo",
        ("myapp.pl",),
        configs={"yourconfig.foo": PSGI_INI},
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:362 psgi --xml yourconfig.foo",
        "uwsgi --xml yourconfig.foo",
        ("myapp.pl",),
        configs={"yourconfig.foo": PSGI_XML},
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:363 psgi --yaml yourconfig.foo",
        "uwsgi --yaml yourconfig.foo",
        ("myapp.pl",),
        configs={"yourconfig.foo": PSGI_YAML},
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:11231 psgi --http-socket",
        "uwsgi --http-socket :9090 --psgi myapp.pl",
        ("myapp.pl",),
        listen="9090",
    ),
    Example(
        "004:11233 psgi --http-socket-modifier1 5",
        "uwsgi --http-socket :9090 --http-socket-modifier1 5 --psgi myapp.pl",
        ("myapp.pl",),
        listen="9090",
    ),
    # -- the Ruby/Rack quickstart -------------------------------------------------------------
    Example(
        "004:455 rack --http-modifier1",
        "uwsgi --http :8080 --http-modifier1 7 --rack app.ru",
        ("app.ru",),
        listen="8080",
        expect=b"Hello",
    ),
    Example(
        "004:462 rack --http-socket-modifier1",
        "uwsgi --http-socket :8080 --http-socket-modifier1 7 --rack app.ru",
        ("app.ru",),
        listen="8080",
        expect=b"Hello",
    ),
    Example(
        "004:474 rack over a uwsgi socket",
        "uwsgi --socket 127.0.0.1:3031 --rack app.ru",
        ("app.ru",),
        front="nginx",
        listen="3031",
        expect=b"Hello",
    ),
    Example(
        "004:488 rack behind nginx",
        "uwsgi --socket 127.0.0.1:3031 --rack app.ru --processes 8",
        ("app.ru",),
        front="nginx",
        listen="3031",
        expect=b"Hello",
        then=_rack_app_loaded,
    ),
    Example(
        "004:501 rack with the master",
        "uwsgi --socket 127.0.0.1:3031 --rack app.ru --processes 4 --master",
        ("app.ru",),
        front="nginx",
        listen="3031",
        expect=b"Hello",
    ),
    Example(
        "004:518 rack ini",
        "uwsgi yourconfig.ini",
        ("app.ru",),
        configs={"yourconfig.ini": RACK_INI},
        front="nginx",
        listen="3031",
        expect=b"Hello",
    ),
    Example(
        "004:520 rack --ini yourconfig.foo",
        "uwsgi --ini yourconfig.foo",
        ("app.ru",),
        configs={"yourconfig.foo": RACK_INI},
        front="nginx",
        listen="3031",
        expect=b"Hello",
    ),
    Example(
        "004:521 rack --xml",
        "uwsgi --xml yourconfig.foo",
        ("app.ru",),
        configs={"yourconfig.foo": RACK_XML},
        front="nginx",
        listen="3031",
        expect=b"Hello",
    ),
    Example(
        "004:522 rack --yaml yourconfig.foo",
        "uwsgi --yaml yourconfig.foo",
        ("app.ru",),
        configs={"yourconfig.foo": PSGI_YAML.replace("psgi: myapp.pl", "rack: app.ru")},
        front="nginx",
        listen="3031",
        expect=b"Hello",
    ),
    Example(
        "004:553 classic sinatra config.ru, lazy-apps",
        "uwsgi yourconf.ini",
        ("config.ru",),
        configs={"yourconf.ini": SINATRA_INI},
        front="nginx",
        listen="3031",
        path="/hi",
    ),
    Example(
        "004:572 sinatra with rbthreads (the Rails 4 ini)",
        "uwsgi yourconf.ini",
        ("config.ru",),
        configs={
            "yourconf.ini": SINATRA_INI.replace("processes = 4\n", "processes = 4\nrbthreads = 2\n")
            + "chdir = /path/to/your/project\nenv = RAILS_ENV=production\n"
        },
        front="nginx",
        listen="3031",
        path="/hi",
    ),
    Example(
        "004:8434 rack --rbrequire",
        "uwsgi --socket :3031 --rack config.ru --rbrequire mytasks.rb --master --processes 4",
        ("config.ru", "mytasks.rb"),
        front="nginx",
        listen="3031",
        path="/hi",
    ),
    # -- the Django/nginx tutorial ------------------------------------------------------------
    Example(
        "004:1458 django tutorial test.py over --http",
        "uwsgi --http :8000 --wsgi-file test.py",
        ("test.py",),
        listen="8000",
    ),
    Example(
        "004:1475 django tutorial --module mysite.wsgi over --http",
        "uwsgi --http :8000 --module mysite.wsgi",
        django="mysite",
        listen="8000",
        expect=DJANGO_PAGE,
    ),
    Example(
        "004:1544 django tutorial test.py behind nginx",
        "uwsgi --socket :8001 --wsgi-file test.py",
        ("test.py",),
        front="nginx",
        listen="8001",
    ),
    Example(
        "004:1560 unix socket",
        "uwsgi --socket mysite.sock --wsgi-file test.py",
        ("test.py",),
        front="nginx",
        listen="mysite.sock",
    ),
    Example(
        "004:1570 unix socket --chmod-socket=666",
        "uwsgi --socket mysite.sock --wsgi-file test.py --chmod-socket=666",
        ("test.py",),
        front="nginx",
        listen="mysite.sock",
    ),
    Example(
        "004:1572 unix socket --chmod-socket=664",
        "uwsgi --socket mysite.sock --wsgi-file test.py --chmod-socket=664 # (more sensible)",
        ("test.py",),
        front="nginx",
        listen="mysite.sock",
    ),
    Example(
        "004:1577 unix socket --module mysite.wsgi",
        "uwsgi --socket mysite.sock --module mysite.wsgi --chmod-socket=664",
        django="mysite",
        front="nginx",
        listen="mysite.sock",
        expect=DJANGO_PAGE,
    ),
    Example(
        "004:1604 django tutorial mysite_uwsgi.ini",
        "uwsgi --ini mysite_uwsgi.ini",
        configs={"mysite_uwsgi.ini": MYSITE_INI},
        django="mysite",
        front="nginx",
        listen="mysite.sock",
        expect=DJANGO_PAGE,
    ),
    Example(
        "004:1626 emperor with uid",
        "uwsgi --emperor vassals --uid www-data --gid www-data",
        configs={"vassals/mysite_uwsgi.ini": MYSITE_INI},
        owners={".": "www-data:www-data"},  # the project's directory: the vassal binds its socket
        django="mysite",
        front="nginx",
        listen="mysite.sock",
        expect=DJANGO_PAGE,
        drops=True,
    ),
    # -- the Emperor ---------------------------------------------------------------------------
    Example(
        "004:4360 emperor of a vassals directory",
        "uwsgi --emperor /etc/uwsgi/vassals",
        configs={"vassals/werkzeug.xml": WERKZEUG_XML},
        front="nginx",
        listen="3031",
        expect=b"<title>WSGI Information</title>",
    ),
    Example(
        "004:4371 emperor of a glob",
        'uwsgi --emperor "/etc/vassals/*.ini"',
        configs={"vassals/foobar.ini": FOOBAR_VASSAL, "foobar.py": HELLO_WSGI},
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:4380 emperor of a glob over app directories",
        "uwsgi --emperor /opt/apps/app*/app*.*",
        configs={"apps/app1/app1.xml": WERKZEUG_XML, "apps/app1/notes.txt": "not a vassal\n"},
        front="nginx",
        listen="3031",
        expect=b"<title>WSGI Information</title>",
    ),
    Example(
        "004:4531 emperor with vassal-set",
        "uwsgi emperor.ini",
        configs={
            "emperor.ini": "[uwsgi]\nemperor = /etc/uwsgi/vassals\nvassal-set = processes=8\n"
            "vassal-set = enable-metrics=1\n",
            "vassals/foobar.ini": FOOBAR_VASSAL,
            "foobar.py": HELLO_WSGI,
        },
        front="nginx",
        listen="3031",
        then=_eight_workers,
    ),
    # -- the blog posts ------------------------------------------------------------------------
    Example(
        "000:33 emperor tyrant ini",
        "uwsgi --ini uwsgi.ini",
        configs={
            "uwsgi.ini": "[uwsgi]\nmaster = true\nemperor = emperor.d\nemperor-tyrant = true\n"
            "chmod-socket = 777\n",
            "emperor.d/mysite.ini": SKEL_INI,
        },
        owners={"emperor.d/mysite.ini": "nobody:nogroup"},  # the blog's `chown alleged.uwsgi`
        django="mysite",
        front="nginx",
        listen="3031",
        expect=DJANGO_PAGE,
        drops=True,
    ),
    Example(
        "000:48 the %n skeleton as one vassal",
        "uwsgi mysite.ini",
        configs={"mysite.ini": SKEL_INI},
        django="mysite",
        front="nginx",
        listen="3031",
        expect=DJANGO_PAGE,
    ),
    Example(
        "001:79 sm_org.ini (keys without a section)",
        "uwsgi --ini sm_org.ini",
        configs={"sm_org.ini": "[uwsgi]\n" + SM_ORG_INI, "wsgi.py": HELLO_WSGI},
        front="nginx",
        listen="3031",
    ),
    # -- language pages --------------------------------------------------------------------
    Example(
        "004:8579 lua --http-modifier1",
        "./uwsgi --http :8080 --http-modifier1 6 --lua pippo.lua",
        ("pippo.lua",),
        listen="8080",
        expect=b"Hello Wsapi!",
    ),
    Example(
        "004:8592 lua behind nginx",
        "./uwsgi --socket 127.0.0.1:3031 --lua pippo.lua --processes 4 --threads 8 --master",
        ("pippo.lua",),
        front="nginx",
        listen="3031",
        location=LUA_LOCATION,
        expect=b"Hello Wsapi!",
    ),
    Example(
        "004:8594 lua --async --ugreen",
        "./uwsgi --socket 127.0.0.1:3031 --lua pippo.lua --async 1000 --ugreen",
        ("pippo.lua",),
        front="nginx",
        listen="3031",
        location=LUA_LOCATION,
        expect=b"Hello Wsapi!",
    ),
    Example(
        "004:7986 php behind nginx",
        "uwsgi -s :3030 --plugin php -M -p 4",
        ("index.php",),
        front="nginx",
        listen="3030",
        location=PHP_LOCATION,
        path="/index.php",
        expect=b"Hello from PHP index.php",
    ),
    Example(
        "004:7990 php --cheaper",
        "uwsgi -s :3030 --plugin php -M -p 40 --cheaper 4",
        ("index.php",),
        front="nginx",
        listen="3030",
        location=PHP_LOCATION,
        path="/index.php",
        expect=b"Hello from PHP index.php",
    ),
    Example(
        "004:7997 php --php-allowed-ext",
        "uwsgi --plugin php --master --socket :3030 --processes 4 --php-allowed-ext .php "
        "--php-allowed-ext .inc",
        ("index.php", "helper.inc"),
        front="nginx",
        listen="3030",
        location=PHP_LOCATION,
        path="/helper.inc",
        expect=b"Hello from PHP helper.inc",
    ),
    Example(
        "004:8112 PHP sessions in a uWSGI cache",
        "uwsgi sessions.ini",
        ("session.php",),
        configs={"sessions.ini": PHP_SESSIONS_INI},
        listen="9090",
        path="/session.php",
        expect=b"visits 1 in cache no",  # the session is written when the script ends
        then=_session_kept_in_the_cache,
    ),
    Example(
        "004:6046 --gevent",
        "uwsgi --gevent 100 --socket :3031 --module foobar",
        ("foobar.py",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:3856 --metric",
        "uwsgi --http-socket :9090 --metric foobar --wsgi-file foobar.py",  # + an app to serve
        ("foobar.py",),
        listen="9090",
    ),
    Example(
        "004:3859 --metric with an oid",
        "uwsgi --http-socket :9090 --metric name=foobar,type=gauge,oid=100.100.100"
        " --wsgi-file metricapp.py",  # + an app that reads it
        ("metricapp.py",),
        listen="9090",
        then=_gauge_at_zero,
    ),
    Example(
        "004:3890 --metric file collector over /proc/loadavg",
        "uwsgi --metric name=loadavg,type=gauge,collector=file,arg1=/proc/loadavg,arg1n=1,freq=3"
        " --http-socket :9090 --wsgi-file metricapp.py",  # + a socket and an app that reads it
        ("metricapp.py",),
        listen="9090",
        then=_loadavg_collected,
    ),
    Example(
        "004:3895 --metric file collector over /proc/meminfo",
        "uwsgi --metric name=memory,type=gauge,collector=file,arg1=/proc/meminfo,arg1n=4,freq=3"
        " --http-socket :9090 --wsgi-file metricapp.py",
        ("metricapp.py",),
        listen="9090",
        then=_memory_collected,
    ),
    Example(
        "004:3317 four mules",
        "uwsgi --socket :3031 --mule --mule --mule --mule --wsgi-file foobar.py",  # + an app
        ("foobar.py",),
        front="nginx",
        listen="3031",
        then=_four_mules,
    ),
    Example(
        "004:3343 a programmed mule",
        "uwsgi --socket :3031 --mule=somaro.py --mule --mule --mule --wsgi-file foobar.py",
        ("foobar.py", "somaro.py"),
        front="nginx",
        listen="3031",
        then=functools.partial(_four_mules, script="somaro.py"),
    ),
    Example(
        "004:6048 --plugins python,gevent",
        "uwsgi --plugins python,gevent --gevent 100 --socket :3031 --module myapp",
        ("myapp.py=foobar.py",),
        front="nginx",
        listen="3031",
    ),
    Example(
        "004:6542 the http router in embedded mode",
        "./uwsgi --http 127.0.0.1:8080 --master --module mywsgiapp --processes 4",
        ("mywsgiapp.py=foobar.py",),
        listen="8080",
    ),
    Example(
        "004:4370 emperor of a glob over domains",
        'uwsgi --emperor "/etc/vassals/domains/*/conf/uwsgi.xml"',
        configs={
            "vassals/domains/example.com/conf/uwsgi.xml": WERKZEUG_XML,
            "vassals/domains/example.com/conf/notes.xml": "<uwsgi/>",  # not the glob's
        },
        front="nginx",
        listen="3031",
        expect=b"<title>WSGI Information</title>",
    ),
    Example(
        "004:4555 emperor with --vassals-include",
        "uwsgi --emperor /opt/apps --vassals-include /etc/uwsgi/vassals-default.ini",
        configs={
            "apps/mysite.ini": "[uwsgi]\nvassal_name = %n\nwsgi-file = /opt/apps/foobar.py\n",
            "apps/foobar.py": HELLO_WSGI,
            "vassals-default.ini": "[uwsgi]\nsocket = /tmp/sockets/%(vassal_name).sock\n",
            "sockets/.keep": "",  # the docs' /tmp/sockets exists
        },
        front="nginx",
        listen="sockets/mysite.sock",
    ),
    Example(
        "004:10704 --response-route-run",
        'uwsgi --http-socket :9090 --psgi myapp.pl --response-route-run "log:${newvar}"',
        ("myapp.pl",),
        listen="9090",
    ),
]


def _param(example: Example) -> object:
    waits = WAITS_ON.get(example.id)
    marks = [pytest.mark.xfail(reason=waits, strict=True)] if waits else []
    return pytest.param(example, marks=marks, id=example.id)


def test_every_waiting_example_exists() -> None:
    assert set(WAITS_ON) <= {example.id for example in EXAMPLES}


@contextlib.contextmanager
def _python_copy(mode: int) -> Iterator[Python]:
    """This interpreter copied (hard links: no bytes copied) into a directory of `mode`, and a
    venv over the copy whose packages are this venv's (polyhost editable, Django ...). The
    copy's libpython is found first by the dynamic linker (the original's RUNPATH may be
    under /root)."""
    root = Path(tempfile.mkdtemp(prefix="polyhost-python-"))
    try:
        base = root / "base"
        subprocess.run(["cp", "-al", sys.base_prefix, str(base)], check=True, timeout=300)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        venv = root / "venv"
        subprocess.run(
            [str(base / "bin" / version), "-m", "venv", "--without-pip", str(venv)],
            check=True,
            timeout=120,
        )
        packages = sysconfig.get_path("purelib")
        (venv / "lib" / version / "site-packages" / "polyhost-venv.pth").write_text(
            f"import site; site.addsitedir({packages!r})\n"
        )
        os.chmod(root, mode)
        yield Python(
            [str(venv / "bin" / "python"), "-m", "polyhost"], {"LD_LIBRARY_PATH": str(base / "lib")}
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def readable_python() -> Iterator[Python]:
    """polyhost installed where a uid it drops to can read it, as a user does it: this
    interpreter when other users can reach it, else (a pyenv under /root, 0700) a copy in a
    directory they can enter."""
    if not PYTHON_HIDDEN:
        yield Python(POLYHOST, {})
        return
    with _python_copy(0o755) as python:
        yield python


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seeds are in ../shared/seeds")
@pytest.mark.parametrize("example", [_param(example) for example in EXAMPLES])
def test_seed_example(example: Example, request: pytest.FixtureRequest) -> None:
    python = request.getfixturevalue("readable_python") if example.drops else None
    # a directory other users can enter (pytest's are 0700): the examples with uid/gid need it
    directory = Path(tempfile.mkdtemp(prefix="polyhost-seed-"))
    os.chmod(directory, 0o755)
    try:
        run_example(example, directory, python)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- issue 12 point 6: a uid that cannot reach the interpreter is named at start ---------------
NOBODY_CANNOT_READ = "uid nobody cannot read {python}: the Python interpreter"


@pytest.fixture(scope="module")
def hidden_python() -> Iterator[tuple[Python, str]]:
    """polyhost in a directory only root may enter (the pyenv under /root), and the path of its
    interpreter as the message names it."""
    with _python_copy(0o700) as python:
        yield python, os.path.realpath(python.command[0])


HIDDEN_STARTS = {
    "a master": ["--socket", "127.0.0.1:0", "--uid", "nobody", "--wsgi-file", "foobar.py"],
    "an emperor": ["--emperor", "vassals", "--uid", "nobody", "--gid", "nogroup"],
    "a tyrant's vassal": ["--emperor", "vassals", "--emperor-tyrant"],
}


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
@pytest.mark.parametrize("start", list(HIDDEN_STARTS))
def test_a_uid_that_cannot_read_the_interpreter_is_named_at_start(
    start: str, hidden_python: tuple[Python, str], tmp_path: Path
) -> None:
    """The uid polyhost (a master, an Emperor, a tyrant's vassal) drops to cannot enter the
    interpreter's directory: the start says so, naming the user and the path, instead of the
    workers or vassals dying after the drop (a master or an Emperor stops; a tyrant keeps
    ruling and does not start that vassal)."""
    python, interpreter = hidden_python
    os.chmod(tmp_path, 0o755)
    shutil.copy(CORPUS / "foobar.py", tmp_path / "foobar.py")
    (tmp_path / "vassals").mkdir()
    vassal = tmp_path / "vassals" / "app.ini"
    vassal.write_text(f"[uwsgi]\nsocket = 127.0.0.1:0\nwsgi-file = {tmp_path}/foobar.py\n")
    shutil.chown(vassal, "nobody", "nogroup")
    inst = _start(HIDDEN_STARTS[start], tmp_path, python.command, python.env)
    try:
        log = inst.wait_log(NOBODY_CANNOT_READ.format(python=interpreter))
        if start == "a tyrant's vassal":
            assert "[emperor-tyrant] cannot start vassal app.ini: uid nobody" in log
            assert inst.proc.poll() is None, log
        else:
            assert inst.proc.wait(30) == 1, log
    finally:
        code = inst.stop()
    assert code == (0 if start == "a tyrant's vassal" else 1)
    assert "spawned polyhost worker" not in inst.log()


# -- issue 12 points 2, 6 and 9, proven beyond the corpus --------------------------------------
CGI_APP = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "cgi as $(id -un)"
"""
WSGI_ERRORS_APP = """def application(env, start_response):
    errors = env["wsgi.errors"]
    errors.writelines(["first line\\n", "second ", "line\\n", "unfinished"])
    errors.flush()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"logged"]
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_a_cgi_app_under_uid_nobody_answers(readable_python: Python, tmp_path: Path) -> None:
    """Point 6: a CGI app under `uid = nobody` (polyhost installed where nobody can read it)
    answers as nobody; everything the CGI runtime needs was imported before the drop. Its
    directory where nobody cannot enter (pytest's tmp_path) stops the start, naming it."""
    hidden = tmp_path / "cgi"
    hidden.mkdir()
    argv = ["--http-socket", "127.0.0.1:0", "--http-socket-modifier1", "9", "--cgi"]
    argv += [f"/cgi={hidden}", "--uid", "nobody", "--gid", "nogroup"]
    refused = _start(argv, tmp_path, readable_python.command, readable_python.env)
    try:
        assert refused.proc.wait(60) == 1
        assert f"uid nobody cannot read {hidden}: the app" in refused.log(), refused.log()
    finally:
        refused.stop()
    tmp_path = Path(tempfile.mkdtemp(prefix="polyhost-cgi-"))
    os.chmod(tmp_path, 0o755)
    try:
        _cgi_as_nobody(readable_python, tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _cgi_as_nobody(readable_python: Python, tmp_path: Path) -> None:
    (tmp_path / "cgi").mkdir()
    script = tmp_path / "cgi" / "whoami.cgi"
    script.write_text(CGI_APP)
    script.chmod(0o755)
    port = free_port()
    argv = ["--http-socket", f"127.0.0.1:{port}", "--http-socket-modifier1", "9"]
    argv += ["--cgi", f"/cgi={tmp_path / 'cgi'}", "--uid", "nobody", "--gid", "nogroup"]
    inst = _start(argv, tmp_path, readable_python.command, readable_python.env)
    try:
        wait_for(lambda: _serving(inst, port), 30, "the CGI instance to serve")
        status, _, body = split_response(get(port, "/cgi/whoami.cgi", host="127.0.0.1"))
        assert status == 200 and body == b"cgi as nobody\n", (status, body, inst.log())
        assert "Error" not in inst.log(), inst.log()
    finally:
        code = inst.stop()
    assert code == 0, inst.log()


def _serving(inst: Instance, port: int) -> bool:
    if inst.proc.poll() is not None:
        raise AssertionError(f"polyhost exited with {inst.proc.returncode}:\n{inst.log()}")
    if "spawned polyhost worker" not in inst.log():
        return False
    with contextlib.suppress(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    return False


def test_wsgi_errors_is_a_text_stream(tmp_path: Path) -> None:
    """Point 2: `wsgi.errors` takes `writelines` and `flush` as a text stream does: whole lines
    go to the log, and flush writes out the unfinished one."""
    (tmp_path / "errors_app.py").write_text(WSGI_ERRORS_APP)
    port = free_port()
    argv = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(tmp_path / "errors_app.py")]
    inst = _start(argv, tmp_path, POLYHOST, {})
    try:
        wait_for(lambda: _serving(inst, port), 30, "the WSGI instance to serve")
        status, _, body = split_response(get(port, "/", host="127.0.0.1"))
        assert status == 200 and body == b"logged"
        lines = inst.wait_log("unfinished").splitlines()
        assert {"first line", "second line", "unfinished"} <= set(lines), lines
    finally:
        code = inst.stop()
    assert code == 0, inst.log()


def test_php_index_names_the_directory_index(tmp_path: Path) -> None:
    """Point 7: `php-index` names the file a directory's URL runs (index.php by default)."""
    (tmp_path / "sub").mkdir()
    for directory, name in ((tmp_path, "main.php"), (tmp_path / "sub", "main.php")):
        (directory / name).write_text(f"<?php echo 'index of ' . basename(__DIR__) . ' {name}';")
    (tmp_path / "index.php").write_text("<?php echo 'not the index';")
    port = free_port()
    argv = ["--http-socket", f"127.0.0.1:{port}", "--http-socket-modifier1", "14"]
    argv += ["--php-docroot", str(tmp_path), "--php-index", "main.php"]
    inst = _start(argv, tmp_path, POLYHOST, {})
    try:
        wait_for(lambda: _serving(inst, port), 30, "the PHP instance to serve")
        for path, name in (("/", tmp_path.name), ("/sub/", "sub")):
            status, _, body = split_response(get(port, path, host="127.0.0.1"))
            assert status == 200 and body == f"index of {name} main.php".encode(), (path, body)
    finally:
        code = inst.stop()
    assert code == 0, inst.log()
