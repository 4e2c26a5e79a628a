"""Tyrant mode with real users: each vassal runs as the owner of its file, creates its socket as
that user in a group-writable socket directory (the blog's chgrp + g+w, reached through
--emperor-tyrant-initgroups), files owned by root are refused, a uid naming someone else is
refused, an owner change stops the vassal; and the non-tyrant `--emperor DIR --uid --gid`.

The test users are created with useradd and removed after (also on failure). /root (where the
venv's Python lives) is 0700: the users get search permission on it through an ACL entry for
the test's duration, removed after."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_emperor import (
    accepting,
    alive,
    children,
    descendants,
    emperor_with_stats,
    session_members,
    stats,
    via_nginx,
)

from conftest import Instance, free_port, wait_for
from nginx_helper import Nginx

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="tyrant mode needs root")

USERS = ("phtyr-alice", "phtyr-bob")
WEB_GROUP = "phtyr-web"
WHOAMI_APP = """import os
def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"uid {os.getuid()} gid {os.getgid()}".encode()]
"""


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def site_users(
    names: tuple[str, ...], group: str, homes: bool = False
) -> Iterator[dict[str, pwd.struct_passwd]]:
    """Users (each with its own group, all in `group`; with `homes`, /home/NAME) that can reach
    the venv's Python; removed after, also on failure."""
    created: list[str] = []
    acl_path = _python_home_parent()
    group_made = had_acl = False
    try:
        _run("groupadd", group)
        group_made = True
        for name in names:
            home = ["-m"] if homes else ["-M"]
            _run("useradd", *home, "-U", "-G", group, "-s", "/usr/sbin/nologin", name)
            created.append(name)
        if acl_path:
            had_acl = _has_extended_acl(acl_path)
            _run("setfacl", "-m", ",".join(f"u:{u}:x" for u in names), acl_path)
        yield {name: pwd.getpwnam(name) for name in names}
    finally:
        if acl_path:
            entries = ",".join(f"u:{u}" for u in created)
            subprocess.run(["setfacl", "-x", entries, acl_path], capture_output=True, check=False)
            if not had_acl and not _has_extended_acl(acl_path, named_only=True):
                # back to the plain mode bits, unless someone else added an entry meanwhile
                subprocess.run(["setfacl", "-b", acl_path], capture_output=True, check=False)
        for name in created:
            subprocess.run(
                ["userdel", *(["-r"] if homes else []), name], capture_output=True, check=False
            )
        if group_made:
            subprocess.run(["groupdel", group], capture_output=True, check=False)


@pytest.fixture(scope="module")
def users() -> Iterator[dict[str, pwd.struct_passwd]]:
    with site_users(USERS, WEB_GROUP) as made:
        yield made


def _has_extended_acl(path: str, named_only: bool = False) -> bool:
    """An entry beyond the mode bits (a named user or group; with named_only, not the mask)."""
    out = subprocess.run(["getfacl", "-c", path], capture_output=True, text=True, check=True)
    lines = [line for line in out.stdout.splitlines() if line and not line.startswith("#")]
    plain = ("user::", "group::", "other::") + (("mask::",) if named_only else ())
    return any(not line.startswith(plain) for line in lines)


def _python_home_parent() -> str:
    """The directory above the interpreter that other users cannot search (a home of mode
    0700, typically), or "" when they can reach it."""
    for parent in Path(os.path.realpath(sys.executable)).parents:
        if parent != parent.parent and not os.stat(parent).st_mode & 0o001:
            return str(parent)
    return ""


@pytest.fixture
def land() -> Iterator[Path]:
    """A world-readable directory (pytest's tmp dirs are 0700 under /tmp/pytest-of-root)."""
    root = Path(tempfile.mkdtemp(prefix="polyhost-tyrant-"))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def proc_ids(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    gid = int(next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1])
    return uid, gid


def http_over_unix(path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_tyrant_runs_each_vassal_as_its_files_owner(
    users: dict[str, pwd.struct_passwd], land: Path
) -> None:
    vassals, run = land / "vassals", land / "run"
    vassals.mkdir()
    run.mkdir()
    (land / "whoami.py").write_text(WHOAMI_APP)
    web_gid = __import__("grp").getgrnam(WEB_GROUP).gr_gid
    os.chown(run, 0, web_gid)
    os.chmod(run, 0o2775)  # the blog's chgrp + g+w on the socket directory
    skeleton = (
        f"[uwsgi]\nhttp-socket = {run}/%n.sock\nchmod-socket = 660\nvacuum = true\n"
        f"chown-socket = phtyr-%n:{WEB_GROUP}\n"
        f"wsgi-file = {land}/whoami.py\nprocesses = 2\n"
    )
    for name in ("alice", "bob"):
        path = vassals / f"{name}.ini"
        path.write_text(skeleton)
        user = users[f"phtyr-{name}"]
        os.chown(path, user.pw_uid, user.pw_gid)
    (vassals / "rooty.ini").write_text(skeleton)  # owned by root: refused
    sneaky = vassals / "sneaky.ini"
    sneaky.write_text(skeleton.replace("phtyr-%n", "phtyr-alice") + "uid = phtyr-bob\n")
    os.chown(sneaky, users["phtyr-alice"].pw_uid, users["phtyr-alice"].pw_gid)
    stats_port = free_port()
    emperor = emperor_with_stats(
        land,
        stats_port,
        "--emperor",
        str(vassals),
        "--emperor-tyrant",
        "--emperor-tyrant-initgroups",
    )
    try:
        for name in ("alice", "bob"):
            user = users[f"phtyr-{name}"]
            wait_for(lambda n=name: accepting(stats_port, f"{n}.ini"), 30, f"{name} accepting")
            info = next(v for v in stats(stats_port)["vassals"] if v["id"] == f"{name}.ini")
            assert (info["uid"], info["gid"]) == (user.pw_uid, user.pw_gid)
            master = info["pid"]
            workers = children(master)
            assert len(workers) == 2
            for pid in [master, *workers]:
                assert proc_ids(pid) == (user.pw_uid, user.pw_gid)
            sock = run / f"{name}.sock"
            assert (sock.stat().st_uid, sock.stat().st_gid) == (user.pw_uid, web_gid)
            assert oct(sock.stat().st_mode & 0o777) == "0o660"
            assert http_over_unix(sock).endswith(f"uid {user.pw_uid} gid {user.pw_gid}".encode())
        log = emperor.wait_log("[emperor-tyrant] invalid permissions for vassal rooty.ini")
        assert "rooty.ini has been spawned" not in log
        emperor.wait_log("uid = phtyr-bob: this instance runs as uid")
        assert "sneaky.ini is ready to accept" not in emperor.log()
        assert stats(stats_port)["emperor_tyrant"] == 1
        # a running vassal whose file changes owner is stopped
        bob = users["phtyr-bob"]
        os.chown(vassals / "alice.ini", bob.pw_uid, bob.pw_gid)
        emperor.wait_log("!!! permissions of file alice.ini changed. stopping the instance... !!!")
        emperor.wait_log("[emperor] removed uwsgi instance alice.ini")
    finally:
        assert emperor.stop() == 0


def test_emperor_with_uid_gid_runs_every_vassal_as_that_user(
    users: dict[str, pwd.struct_passwd], land: Path
) -> None:
    vassals = land / "vassals"
    vassals.mkdir()
    (land / "whoami.py").write_text(WHOAMI_APP)
    port = free_port()
    (vassals / "site.ini").write_text(
        f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {land}/whoami.py\n"
    )
    bob = users["phtyr-bob"]
    emperor = Instance(
        ["--emperor", str(vassals), "--uid", "phtyr-bob", "--gid", "phtyr-bob"], land, port, land
    )
    try:
        emperor.wait_ready()
        body = http_request_body(port)
        assert body == f"uid {bob.pw_uid} gid {bob.pw_gid}".encode()
        assert proc_ids(emperor.pid) == (bob.pw_uid, bob.pw_gid)
    finally:
        assert emperor.stop() == 0


def http_request_body(port: int) -> bytes:
    from conftest import get, split_response

    return split_response(get(port))[2]


def test_vassal_dropping_its_own_privileges_stops_when_its_emperor_is_killed(
    users: dict[str, pwd.struct_passwd], land: Path
) -> None:
    """A vassal's own `uid` clears the kernel's parent-death signal: it must notice the closed
    Emperor channel and stop, as uWSGI's vassals do."""
    vassals = land / "vassals"
    vassals.mkdir()
    (land / "whoami.py").write_text(WHOAMI_APP)
    port = free_port()
    (vassals / "site.ini").write_text(
        f"[uwsgi]\nmaster = true\nprocesses = 2\nhttp-socket = 127.0.0.1:{port}\n"
        f"wsgi-file = {land}/whoami.py\nuid = phtyr-bob\ngid = phtyr-bob\n"
    )
    emperor = Instance(["--emperor", str(vassals)], land, port, land)
    family: list[int] = []
    try:
        emperor.wait_ready()
        assert http_request_body(port).startswith(f"uid {users['phtyr-bob'].pw_uid} ".encode())
        wait_for(
            lambda: len(descendants(emperor.pid)) == 4, 20, "the zygote, a master and two workers"
        )
        family = descendants(emperor.pid)
        os.kill(emperor.pid, signal.SIGKILL)
        emperor.proc.wait(10)
        wait_for(lambda: not any(alive(p) for p in family), 20, "the vassal's processes gone")
        wait_for(lambda: not session_members(emperor.pid), 20, "the session empty")
        log = emperor.log()
        assert "lost connection with my emperor !!!" in log and "goodbye to polyhost" in log
    finally:
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        emperor.stop()


def test_tyrant_zmq_vassals_run_as_the_uid_and_gid_of_the_message(
    users: dict[str, pwd.struct_passwd], land: Path
) -> None:
    import zmq

    (land / "whoami.py").write_text(WHOAMI_APP)
    port, zmq_port = free_port(), free_port()
    alice = users["phtyr-alice"]
    config = f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {land}/whoami.py\n"
    emperor = Instance(
        ["--emperor", f"zmq://tcp://127.0.0.1:{zmq_port}", "--emperor-tyrant"], land, port, land
    )
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{zmq_port}")
    try:
        emperor.wait_log("*** starting polyhost Emperor ***")
        push.send_multipart([b"touch", b"rooted.ini", config.encode()])  # no uid: root
        emperor.wait_log("[emperor-tyrant] invalid permissions for vassal rooted.ini")
        ids = [str(alice.pw_uid).encode(), str(alice.pw_gid).encode()]
        push.send_multipart([b"touch", b"alice.ini", config.encode(), *ids])
        emperor.wait_ready()
        assert http_request_body(port) == f"uid {alice.pw_uid} gid {alice.pw_gid}".encode()
        emperor.wait_log(f"dropping privileges to {alice.pw_uid} {alice.pw_gid} for instance alice")
    finally:
        push.close(linger=0)
        context.term()
        assert emperor.stop() == 0


def test_tyrant_nofollow_takes_the_owner_of_the_symlink(
    users: dict[str, pwd.struct_passwd], land: Path
) -> None:
    vassals, available = land / "vassals", land / "available"
    vassals.mkdir()
    available.mkdir()
    (land / "whoami.py").write_text(WHOAMI_APP)
    alice, bob = users["phtyr-alice"], users["phtyr-bob"]
    port = free_port()
    target = available / "site.ini"
    target.write_text(f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {land}/whoami.py\n")
    os.chown(target, bob.pw_uid, bob.pw_gid)
    link = vassals / "site.ini"
    link.symlink_to(target)
    os.lchown(link, alice.pw_uid, alice.pw_gid)
    args = ["--emperor", str(vassals), "--emperor-tyrant", "--emperor-tyrant-nofollow"]
    emperor = Instance(args, land, port, land)
    try:
        emperor.wait_ready()
        assert http_request_body(port) == f"uid {alice.pw_uid} gid {alice.pw_gid}".encode()
    finally:
        assert emperor.stop() == 0


# -- the blog's Emperor (seeds/000): one skeleton, a Django site per user, nginx, touch to deploy


BLOG_SITES = ("phtyralleged", "phtyrcaption")
BLOG_GROUP = "phtyr-uwsgi"
BLOG_EMPEROR_INI = """[uwsgi]
master = true
emperor = {etc}/emperor.d
emperor-pidfile = {run}/emperor.pid
emperor-tyrant = true
chmod-socket = 777
"""
BLOG_SKELETON = """[uwsgi]
chdir = /home/%n/Sites/%n
master = true
socket = {run}/%n.sock
chmod-socket = 777
env = DJANGO_SETTINGS_MODULE=%n.settings
home = /home/%n/virtualenvs/%n
module = %n.wsgi:application
max-requests = 1000
"""
DJANGO_FILES = {
    "settings.py": 'SECRET_KEY = "test"\nROOT_URLCONF = "{name}.urls"\nALLOWED_HOSTS = ["*"]\n'
    "INSTALLED_APPS = []\nDATABASES = {{}}\nUSE_TZ = True\n",
    "urls.py": "import os\nfrom django.http import HttpResponse\nfrom django.urls import re_path\n"
    "def index(request):\n"
    '    return HttpResponse(f"{name} uid {{os.getuid()}} pid {{os.getpid()}}")\n'
    'urlpatterns = [re_path(r"", index)]\n',
    "wsgi.py": "import os\nfrom django.core.wsgi import get_wsgi_application\n"
    'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{name}.settings")\n'
    "application = get_wsgi_application()\n",
    "__init__.py": "",
}


def _django_site(user: pwd.struct_passwd) -> None:
    """The blog's layout: /home/NAME/Sites/NAME/NAME/{settings,wsgi}.py and a virtualenv."""
    name, home = user.pw_name, Path(user.pw_dir)
    package = home / "Sites" / name / name
    package.mkdir(parents=True)
    for filename, text in DJANGO_FILES.items():
        (package / filename).write_text(text.format(name=name))
    _run(sys.executable, "-m", "venv", "--without-pip", str(home / "virtualenvs" / name))
    _run("chown", "-R", f"{name}:{name}", str(home))


def _add_site(etc: Path, name: str) -> None:
    """How to Add an Application Server: cp app.skel NAME.ini; chown NAME.uwsgi NAME.ini."""
    vassal = etc / "emperor.d" / f"{name}.ini"
    shutil.copy(etc / "emperor.d" / "app.skel", vassal)
    _run("chown", f"{name}:{BLOG_GROUP}", str(vassal))


def _served_by(nginx: Nginx, site: str) -> str:
    """The pid of the worker that answered, "" for an error."""
    status, body = via_nginx(nginx, site)
    found = re.search(r" pid (\d+)", body)
    return found.group(1) if status == 200 and found else ""


def test_the_blogs_tyrant_emperor_serves_django_sites_behind_nginx(land: Path) -> None:
    etc, run = land / "etc", land / "run"
    (etc / "emperor.d").mkdir(parents=True)
    run.mkdir()
    with site_users(BLOG_SITES, BLOG_GROUP, homes=True) as sites:
        for user in sites.values():
            _django_site(user)
        # the daemontools run script: mkdir, chgrp uwsgi, chmod g+w
        _run("chgrp", BLOG_GROUP, str(run))
        os.chmod(run, 0o775)
        (etc / "uwsgi.ini").write_text(BLOG_EMPEROR_INI.format(etc=etc, run=run))
        skeleton = etc / "emperor.d" / "app.skel"
        skeleton.write_text(BLOG_SKELETON.format(run=run))
        first, second = BLOG_SITES
        _add_site(etc, first)
        locations = "".join(
            f"location /{n}/ {{ uwsgi_pass unix://{run}/{n}.sock; }}\n" for n in BLOG_SITES
        )
        nginx = Nginx(land, locations)
        try:
            emperor = Instance(["--ini", str(etc / "uwsgi.ini")], land, None, land)
            try:
                emperor.wait_log(f"[emperor] vassal {first}.ini is ready to accept requests", 60)
                # a site added to the running Emperor: the copy is root's until its chown
                _add_site(etc, second)
                for name in BLOG_SITES:
                    emperor.wait_log(f"[emperor] vassal {name}.ini is ready to accept requests", 60)
                    status, body = via_nginx(nginx, name)
                    assert status == 200, body
                    assert f"{name} uid {sites[name].pw_uid} pid " in body  # chunked by nginx
                assert (run / "emperor.pid").read_text().strip() == str(emperor.pid)
                assert f"invalid permissions for vassal {first}.ini" not in emperor.log()
                # fab deploy: touch /etc/uwsgi/emperor.d/NAME.ini
                before = _served_by(nginx, first)
                os.utime(etc / "emperor.d" / f"{first}.ini")
                emperor.wait_log(f"[emperor] reload the uwsgi instance {first}.ini")
                wait_for(lambda: _served_by(nginx, first) not in ("", before), 60, "a new worker")
            finally:
                assert emperor.stop() == 0
        finally:
            nginx.stop()
