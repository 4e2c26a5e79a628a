"""The Emperor with real vassals: one skeleton with %n for two Flask sites behind a real nginx,
touch -> reload, remove -> stop, a broken vassal throttled, yaml/json vassals, a glob and a
symlinked apps-enabled, the stats JSON, and SIGTERM leaving no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Instance, _connectable, free_port, get, split_response, under_load, wait_for
from nginx_helper import Nginx

SKELETON = """[uwsgi]
master = true
processes = 2
chdir = {sites}/%n
module = app:app
socket = {run}/%n.sock
chmod-socket = 660
vacuum = true
need-app = true
"""

FLASK_APP = """from flask import Flask
import os
app = Flask(__name__)

@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def index(path):
    return f"site {os.path.basename(os.getcwd())} pid {os.getpid()}"
"""

TINY_APP = """def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"tiny " + env["SERVER_PORT"].encode()]
"""


def stats(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data)


def vassal(port: int, name: str) -> dict | None:
    try:
        data = stats(port)
    except OSError:  # the Emperor is not up yet
        return None
    return next((v for v in data["vassals"] if v["id"] == name), None)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes of a session; the tests start each Emperor in its own."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def emperor_with_stats(root: Path, stats_port: int, *args: str) -> Instance:
    """An Emperor started in `root` (its log there too) with its stats on 127.0.0.1."""
    return Instance([*args, "--emperor-stats", f"127.0.0.1:{stats_port}"], root, None, root)


def accepting(port: int, name: str) -> bool:
    info = vassal(port, name)
    return bool(info and info["accepting"] and info["pid"] > 0)


class Kingdom:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.vassals = root / "vassals"
        self.sites = root / "sites"
        self.run = root / "run"
        for d in (self.vassals, self.sites, self.run):
            d.mkdir()
        self.stats_port = free_port()
        for name in ("alpha", "beta"):
            (self.sites / name).mkdir()
            (self.sites / name / "app.py").write_text(FLASK_APP)
            self.add(name)
        (self.vassals / "site.skel").write_text("not a vassal")
        (self.vassals / "notes.txt").write_text("not a vassal")
        self.emperor = emperor_with_stats(root, self.stats_port, "--emperor", str(self.vassals))

    def add(self, name: str) -> None:
        skel = SKELETON.format(sites=self.sites, run=self.run)
        (self.vassals / f"{name}.ini").write_text(skel)


@pytest.fixture(scope="module")
def kingdom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kingdom]:
    k = Kingdom(tmp_path_factory.mktemp("kingdom"))
    try:
        for name in ("alpha.ini", "beta.ini"):
            wait_for(lambda n=name: accepting(k.stats_port, n), 30, f"{name} accepting")
        yield k
    finally:
        k.emperor.stop()


@pytest.fixture(scope="module")
def nginx(kingdom: Kingdom, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    locations = "".join(
        f"location /{n}/ {{ uwsgi_pass unix:{kingdom.run}/{n}.sock; }}\n" for n in ("alpha", "beta")
    )
    server = Nginx(tmp_path_factory.mktemp("nginx"), locations)
    yield server
    server.stop()


def via_nginx(server: Nginx, site: str) -> tuple[int, str]:
    status, _, body = split_response(get(server.port, f"/{site}/"))
    return status, body.decode()


def test_two_sites_from_one_skeleton_behind_nginx(kingdom: Kingdom, nginx: Nginx) -> None:
    for site in ("alpha", "beta"):
        status, body = via_nginx(nginx, site)
        assert status == 200 and body.startswith(f"site {site} pid"), body
        sock = kingdom.run / f"{site}.sock"
        assert oct(sock.stat().st_mode & 0o777) == "0o660"
    log = kingdom.emperor.log()
    assert "[emperor] vassal alpha.ini has been spawned" in log
    assert "*** has_emperor mode detected (fd: " in log  # the vassal's side, as uWSGI's
    assert "site.skel" not in log and "notes.txt" not in log


def test_stats_json_has_uwsgi_keys(kingdom: Kingdom) -> None:
    data = stats(kingdom.stats_port)
    for key in (
        "version",
        "pid",
        "uid",
        "gid",
        "cwd",
        "emperor",
        "emperor_tyrant",
        "throttle_level",
        "vassals",
        "blacklist",
    ):
        assert key in data
    assert data["emperor"] == [str(kingdom.vassals)]
    info = vassal(kingdom.stats_port, "alpha.ini")
    assert info is not None
    for key in (
        "id",
        "pid",
        "born",
        "last_mod",
        "loyal",
        "ready",
        "accepting",
        "cursed",
        "zerg",
        "last_heartbeat",
        "respawns",
        "uid",
        "gid",
        "monitor",
        "on_demand",
    ):
        assert key in info
    assert info["ready"] == 1 and info["pid"] > 0


def test_touch_reloads_with_new_workers_and_no_failed_request(
    kingdom: Kingdom, nginx: Nginx
) -> None:
    via_nginx(nginx, "alpha")  # makes it loyal
    master = vassal(kingdom.stats_port, "alpha.ini")["pid"]
    before = set(children(master))

    def request() -> str | None:
        status, body = via_nginx(nginx, "alpha")
        return None if status == 200 else f"{status} {body[:80]}"

    with under_load(request, clients=2, most=2000) as progress:
        progress("load running")
        os.utime(kingdom.vassals / "alpha.ini")
        kingdom.emperor.wait_log("[emperor] reload the uwsgi instance alpha.ini")
        wait_for(
            lambda: (c := set(children(master))) and not (c & before) and len(c) >= 2,
            30,
            "new workers",
        )
        wait_for(lambda: accepting(kingdom.stats_port, "alpha.ini"), 20, "alpha back")
        progress("load after reload")
    assert vassal(kingdom.stats_port, "alpha.ini")["pid"] == master  # re-exec in place


def test_broken_vassal_is_throttled_while_others_serve(kingdom: Kingdom, nginx: Nginx) -> None:
    (kingdom.sites / "broken").mkdir()
    (kingdom.sites / "broken" / "app.py").write_text("raise RuntimeError('broken site')\n")
    kingdom.add("broken")

    def attempts() -> int:
        blacklist = stats(kingdom.stats_port)["blacklist"]
        item = next((b for b in blacklist if b["id"] == "broken.ini"), None)
        return item["attempt"] if item else 0

    wait_for(lambda: attempts() >= 2, 30, "broken.ini dead three times")
    assert via_nginx(nginx, "beta")[0] == 200
    (kingdom.vassals / "broken.ini").unlink()
    kingdom.emperor.wait_log("[emperor] removed uwsgi instance broken.ini")
    log = kingdom.emperor.log()
    assert "unloyal bad behaving vassal found: broken.ini throttling it" in log
    deaths = log.count("[emperor] curse the uwsgi instance broken.ini (pid:")  # uWSGI's line
    errors = log.count("failed to load the WSGI app app:app: RuntimeError: broken site")
    assert deaths >= 3
    assert errors in (deaths, deaths + 1)  # one traceback per attempt (the last may be stopping)
    # throttled: the spawns are spread out, never a tight loop
    item_log = [line for line in log.splitlines() if "respawning vassal broken.ini" in line]
    assert len(item_log) <= deaths


def test_yaml_json_xml_and_js_vassals(kingdom: Kingdom) -> None:
    (kingdom.root / "tiny.py").write_text(TINY_APP)
    ports = {n: free_port() for n in ("tiny-y.yaml", "tiny-j.json", "tiny-x.xml", "tiny-s.js")}
    (kingdom.vassals / "tiny-y.yaml").write_text(
        f"uwsgi:\n  http-socket: 127.0.0.1:{ports['tiny-y.yaml']}\n"
        f"  wsgi-file: {kingdom.root}/tiny.py\n"
    )
    (kingdom.vassals / "tiny-j.json").write_text(
        json.dumps(
            {
                "uwsgi": {
                    "http-socket": f"127.0.0.1:{ports['tiny-j.json']}",
                    "wsgi-file": f"{kingdom.root}/tiny.py",
                }
            }
        )
    )
    (kingdom.vassals / "tiny-x.xml").write_text(
        f"<uwsgi><http-socket>127.0.0.1:{ports['tiny-x.xml']}</http-socket>"
        f"<wsgi-file>{kingdom.root}/tiny.py</wsgi-file></uwsgi>\n"
    )
    js = {"http-socket": f"127.0.0.1:{ports['tiny-s.js']}", "wsgi-file": f"{kingdom.root}/tiny.py"}
    (kingdom.vassals / "tiny-s.js").write_text(json.dumps({"uwsgi": js}))
    for name, port in ports.items():
        wait_for(lambda n=name: accepting(kingdom.stats_port, n), 30, name)
        assert split_response(get(port))[2] == f"tiny {port}".encode()
        # started once the file was closed: never on half a config, then reloaded at once
        assert f"reload the uwsgi instance {name}" not in kingdom.emperor.log()
        (kingdom.vassals / name).unlink()


def test_a_vassal_file_still_open_is_left_alone_by_other_scans(kingdom: Kingdom) -> None:
    """A scan that another file's event causes must not start a vassal whose file is still
    being written: it would start on part of its config and reload at once."""
    (kingdom.root / "tiny.py").write_text(TINY_APP)
    port = free_port()
    with (kingdom.vassals / "slow.ini").open("w") as slow:
        slow.write("[uwsgi]\n")
        slow.flush()
        poke = f"[uwsgi]\nhttp-socket = 127.0.0.1:{free_port()}\n"
        poke += f"wsgi-file = {kingdom.root}/tiny.py\n"
        (kingdom.vassals / "poke.ini").write_text(poke)
        kingdom.emperor.wait_log("[emperor] vassal poke.ini has been spawned")
        assert vassal(kingdom.stats_port, "slow.ini") is None
        slow.write(f"http-socket = 127.0.0.1:{port}\nwsgi-file = {kingdom.root}/tiny.py\n")
    wait_for(lambda: accepting(kingdom.stats_port, "slow.ini"), 30, "slow.ini accepting")
    assert split_response(get(port))[2] == f"tiny {port}".encode()
    assert "reload the uwsgi instance slow.ini" not in kingdom.emperor.log()
    for name in ("slow.ini", "poke.ini"):
        (kingdom.vassals / name).unlink()
        kingdom.emperor.wait_log(f"[emperor] removed uwsgi instance {name}")


def test_removed_vassal_stops_and_vacuums_its_socket(kingdom: Kingdom, nginx: Nginx) -> None:
    master = vassal(kingdom.stats_port, "beta.ini")["pid"]
    workers = children(master)
    (kingdom.vassals / "beta.ini").unlink()
    kingdom.emperor.wait_log("[emperor] removed uwsgi instance beta.ini")
    assert not (kingdom.run / "beta.sock").exists()
    assert not any(alive(p) for p in [master, *workers])
    assert via_nginx(nginx, "beta")[0] == 502
    assert via_nginx(nginx, "alpha")[0] == 200


def test_sigterm_stops_every_vassal_leaving_nothing(kingdom: Kingdom) -> None:
    family = descendants(kingdom.emperor.pid)
    assert family
    kingdom.emperor.signal(signal.SIGTERM)
    assert kingdom.emperor.proc.wait(40) == 0
    wait_for(lambda: not any(alive(p) for p in family), 10, "every vassal process gone")
    log = kingdom.emperor.log()
    assert "RAGNAROK EVOKED" in log and "The Emperor is buried." in log
    assert not (kingdom.run / "alpha.sock").exists()


# -- a glob, several monitors, symlinked apps-enabled --------------------------------------------


@pytest.fixture
def realm(tmp_path: Path) -> Iterator[tuple[Path, Instance, int]]:
    (tmp_path / "tiny.py").write_text(TINY_APP)
    for d in ("apps-available", "apps-enabled", "globbed/one", "globbed/two"):
        (tmp_path / d).mkdir(parents=True)
    stats_port = free_port()
    emperor = emperor_with_stats(
        tmp_path,
        stats_port,
        "--emperor",
        str(tmp_path / "apps-enabled"),
        "--emperor",
        str(tmp_path / "globbed/*/site.ini"),
    )
    try:
        wait_for(lambda: _stats_up(stats_port), 20, "emperor stats")
        yield tmp_path, emperor, stats_port
    finally:
        emperor.stop()


def _stats_up(port: int) -> bool:
    try:
        stats(port)
        return True
    except OSError:
        return False


def blacklisted(port: int, attempt: int) -> dict | None:
    """The blacklist entry with this attempt count (None while the Emperor is not up)."""
    if not _stats_up(port):
        return None
    return next((b for b in stats(port)["blacklist"] if b["attempt"] == attempt), None)


def tiny_ini(root: Path, port: int) -> str:
    return f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {root}/tiny.py\n"


def test_glob_and_symlinked_apps_enabled(realm: tuple[Path, Instance, int]) -> None:
    root, emperor, stats_port = realm
    glob_port, link_port = free_port(), free_port()
    (root / "globbed/one/site.ini").write_text(tiny_ini(root, glob_port))
    (root / "globbed/two/other.ini").write_text(tiny_ini(root, free_port()))  # not matched
    (root / "apps-available/shop.ini").write_text(tiny_ini(root, link_port))
    (root / "apps-enabled/shop.ini").symlink_to(root / "apps-available/shop.ini")
    glob_name = str(root / "globbed/*/site.ini").replace("*", "one")
    wait_for(lambda: accepting(stats_port, "shop.ini"), 30, "symlinked vassal")
    wait_for(lambda: accepting(stats_port, glob_name), 30, "globbed vassal")
    assert split_response(get(glob_port))[0] == 200
    assert split_response(get(link_port))[0] == 200
    assert {v["id"] for v in stats(stats_port)["vassals"]} == {"shop.ini", glob_name}
    # touching the symlink's target reloads the vassal
    time.sleep(0.01)
    os.utime(root / "apps-available/shop.ini")
    emperor.wait_log("[emperor] reload the uwsgi instance shop.ini")
    wait_for(lambda: accepting(stats_port, "shop.ini"), 30, "shop back")
    # pointing the symlink at another file reloads the vassal with that config
    moved_port = free_port()
    (root / "apps-available/shop2.ini").write_text(tiny_ini(root, moved_port))
    (root / "apps-enabled/next.ini").symlink_to(root / "apps-available/shop2.ini")
    os.replace(root / "apps-enabled/next.ini", root / "apps-enabled/shop.ini")
    wait_for(
        lambda: emperor.log().count("[emperor] reload the uwsgi instance shop.ini") == 2, 30, "2nd"
    )
    wait_for(lambda: _connectable(moved_port), 30, "shop on its new port")
    assert split_response(get(moved_port))[0] == 200
    # disabling the site (removing the symlink) stops it
    (root / "apps-enabled/shop.ini").unlink()
    emperor.wait_log("[emperor] removed uwsgi instance shop.ini")
    # a hard link has no inotify close: the periodic scan (emperor-freq) finds it
    hard_port = free_port()
    (root / "hard.ini").write_text(tiny_ini(root, hard_port))
    os.link(root / "hard.ini", root / "apps-enabled/hard.ini")
    wait_for(lambda: accepting(stats_port, "hard.ini"), 30, "the hard-linked vassal")
    # SIGUSR1 logs every vassal's status
    emperor.signal(signal.SIGUSR1)
    emperor.wait_log("[emperor] vassal hard.ini pid ")


# -- the Emperor's own ini, vassal templates and hooks, heartbeats, SIGHUP -----------------------


def test_emperor_ini_with_templates_hooks_heartbeat_and_rolling_reload(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY_APP)
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    ports = {"one": free_port(), "two": free_port()}
    for name, port in ports.items():
        (vassals / f"{name}.ini").write_text(f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\n")
    # every vassal gets the app from the include and a heartbeat from vassal-set
    (tmp_path / "common.ini").write_text(f"[uwsgi]\nwsgi-file = {tmp_path}/tiny.py\n")
    hooks = tmp_path / "hooks.log"
    stats_port = free_port()
    (tmp_path / "emperor.ini").write_text(
        f"""[uwsgi]
master = true
emperor = {vassals}
emperor-pidfile = {tmp_path}/emperor.pid
emperor-stats = 127.0.0.1:{stats_port}
emperor-procname = polyhost-test-emperor
emperor-required-heartbeat = 2
emperor-freq = 1
chmod-socket = 660
vassals-include = {tmp_path}/common.ini
vassal-set = heartbeat=1
vassals-start-hook = echo start >> {hooks}; echo
vassals-stop-hook = echo stop >> {hooks}; echo
"""
    )
    emperor = Instance(["--ini", str(tmp_path / "emperor.ini")], tmp_path, None, tmp_path)
    try:
        for name in ports:
            wait_for(lambda n=name: accepting(stats_port, f"{n}.ini"), 30, f"{name} accepting")
            assert split_response(get(ports[name]))[2] == f"tiny {ports[name]}".encode()
        assert (tmp_path / "emperor.pid").read_text().strip() == str(emperor.pid)
        assert (
            Path(f"/proc/{emperor.pid}/cmdline").read_bytes().startswith(b"polyhost-test-emperor")
        )
        assert hooks.read_text().count("start") == 2
        assert "[emperor] running vassal start-hook:" in emperor.log()
        wait_for(lambda: vassal(stats_port, "one.ini")["last_heartbeat"] > 0, 10, "heartbeat")
        # SIGHUP: every vassal reloads, one after the other
        emperor.signal(signal.SIGHUP)
        emperor.wait_log("reloading every vassal, one by one")
        wait_for(
            lambda: emperor.log().count("[emperor] reload the uwsgi instance") == 2, 30, "both"
        )
        log = emperor.log()
        first, second = (line for line in log.splitlines() if "reload the uwsgi instance" in line)
        name = first.rsplit(" ", 1)[1]
        assert log.index(f"vassal {name} is ready to accept", log.index(first)) < log.index(second)
        for name in ports:
            wait_for(lambda n=name: accepting(stats_port, f"{n}.ini"), 30, f"{name} back")
        # a vassal that stops beating is killed and respawned
        stuck = vassal(stats_port, "two.ini")["pid"]
        stuck_family = [stuck, *descendants(stuck)]
        os.kill(stuck, signal.SIGSTOP)
        emperor.wait_log("[emperor] vassal two.ini sent no heartbeat in last 2 seconds")
        wait_for(
            lambda: (
                (v := vassal(stats_port, "two.ini"))
                and v["pid"] not in (-1, stuck)
                and v["accepting"]
            ),
            30,
            "two.ini respawned",
        )
        assert split_response(get(ports["two"]))[0] == 200
        wait_for(lambda: not any(alive(p) for p in stuck_family), 20, "its old workers gone")
        assert "stop" in hooks.read_text()
    finally:
        assert emperor.stop() == 0
    assert not (tmp_path / "emperor.pid").exists()


# -- an Emperor killed -9 leaves no vassal behind ------------------------------------------------


def test_emperor_killed_9_takes_every_vassal_with_it(tmp_path: Path) -> None:
    """Reloaded (re-exec'd), stopped (SIGSTOP) and throttled vassals all go with their Emperor:
    none may go on serving, or spin, without it."""
    (tmp_path / "tiny.py").write_text(TINY_APP)
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    reloaded, frozen = free_port(), free_port()
    (vassals / "reloaded.ini").write_text(
        tiny_ini(tmp_path, reloaded) + "master = true\nprocesses = 2\n"
    )
    (vassals / "frozen.ini").write_text(tiny_ini(tmp_path, frozen) + "heartbeat = 1\n")
    (vassals / "broken.ini").write_text(
        f"[uwsgi]\nhttp-socket = 127.0.0.1:{free_port()}\nwsgi-file = {tmp_path}/no.py\n"
        "need-app = true\n"
    )
    stats_port = free_port()
    emperor = emperor_with_stats(tmp_path, stats_port, "--emperor", str(vassals))
    family: list[int] = []
    try:
        for name in ("reloaded.ini", "frozen.ini"):
            wait_for(lambda n=name: accepting(stats_port, n), 30, f"{name} accepting")
        os.utime(vassals / "reloaded.ini")
        emperor.wait_log("[emperor] reload the uwsgi instance reloaded.ini")
        wait_for(lambda: accepting(stats_port, "reloaded.ini"), 30, "reloaded.ini back")
        emperor.wait_log("[emperor] curse the uwsgi instance broken.ini (pid:")
        frozen_pid = vassal(stats_port, "frozen.ini")["pid"]  # type: ignore[index]
        os.kill(frozen_pid, signal.SIGSTOP)
        family = descendants(emperor.pid)
        assert len(family) >= 4  # two masters and their workers
        os.kill(emperor.pid, signal.SIGKILL)
        assert emperor.proc.wait(10) == -signal.SIGKILL
        wait_for(lambda: not any(alive(p) for p in family), 20, "every vassal process gone")
        # also those forked after the snapshot: nothing is left in the Emperor's session
        wait_for(lambda: not session_members(emperor.pid), 20, "the session empty")
        for port in (reloaded, frozen):
            with pytest.raises(OSError):
                get(port)
    finally:
        for pid in family + session_members(emperor.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        emperor.stop()


# -- throttling, loyalty, shutdown mercy ---------------------------------------------------------


def test_throttled_vassal_starts_at_once_when_its_file_changes_and_turns_loyal(
    tmp_path: Path,
) -> None:
    (tmp_path / "site.py").write_text("raise RuntimeError('not deployed yet')\n")
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    port, stats_port = free_port(), free_port()
    (vassals / "site.ini").write_text(
        f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {tmp_path}/site.py\n"
    )
    emperor = emperor_with_stats(
        tmp_path, stats_port, "--emperor", str(vassals), "--emperor-throttle", "60000"
    )
    try:
        # as uWSGI's: the first death throttles by 60000 us (uWSGI's unit slip), the second
        # by 60 s more
        wait_for(lambda: blacklisted(stats_port, 1), 30, "blacklisted after its second death")
        item = blacklisted(stats_port, 1)
        assert item is not None and set(item) == {
            "id",
            "throttle_level",
            "attempt",
            "first_attempt",
            "last_attempt",
        }
        assert (item["id"], item["throttle_level"]) == ("site.ini", 60060)
        assert emperor.log().count("RuntimeError: not deployed yet (traceback above)") == 2
        (tmp_path / "site.py").write_text(TINY_APP)
        os.utime(vassals / "site.ini")  # the deploy: well within the 60 s throttle
        emperor.wait_log("[emperor] site.ini changed: starting it now")
        wait_for(lambda: accepting(stats_port, "site.ini"), 30, "site.ini accepting")
        assert vassal(stats_port, "site.ini")["loyal"] == 0  # type: ignore[index]
        assert split_response(get(port))[0] == 200
        wait_for(lambda: vassal(stats_port, "site.ini")["loyal"] == 1, 10, "loyal")  # type: ignore[index]
        emperor.wait_log("[emperor] vassal site.ini is now loyal")
        assert not stats(stats_port)["blacklist"]
    finally:
        assert emperor.stop() == 0


def test_shutdown_kills_a_vassal_that_does_not_stop_after_reload_mercy(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY_APP)
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    stats_port = free_port()
    (vassals / "stuck.ini").write_text(tiny_ini(tmp_path, free_port()))
    emperor = emperor_with_stats(
        tmp_path, stats_port, "--emperor", str(vassals), "--reload-mercy", "2"
    )
    family: list[int] = []
    try:
        wait_for(lambda: accepting(stats_port, "stuck.ini"), 30, "stuck.ini accepting")
        stuck = vassal(stats_port, "stuck.ini")["pid"]  # type: ignore[index]
        family = [stuck, *descendants(stuck)]
        os.kill(stuck, signal.SIGSTOP)  # it cannot obey the graceful stop
        emperor.signal(signal.SIGINT)
        assert emperor.proc.wait(30) == 0
        log = emperor.log()
        assert "RAGNAROK EVOKED" in log and "NO MERCY for vassal stuck.ini" in log
        wait_for(lambda: not any(alive(p) for p in family), 20, "the stuck vassal gone")
    finally:
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        emperor.stop()


# -- nofollow, vassals-inherit, what is accepted but not built -----------------------------------


def test_nofollow_inherit_and_the_options_not_built(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY_APP)
    (tmp_path / "common.ini").write_text(
        f"[uwsgi]\nwsgi-file = {tmp_path}/tiny.py\nprocesses = 2\n"
    )
    vassals, available = tmp_path / "vassals", tmp_path / "available"
    vassals.mkdir()
    available.mkdir()
    port, stats_port = free_port(), free_port()
    # the vassal's own file wins over the inherited template (processes)
    (available / "site.ini").write_text(
        f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nprocesses = 1\nvassal-sos = 4\n"
    )
    (vassals / "site.ini").symlink_to(available / "site.ini")
    emperor = emperor_with_stats(
        tmp_path,
        stats_port,
        "--emperor",
        str(vassals),
        "--emperor-nofollow",
        "--vassals-inherit",
        str(tmp_path / "common.ini"),
        "--emperor-broodlord",
        "2",
    )
    try:
        wait_for(lambda: accepting(stats_port, "site.ini"), 30, "site.ini accepting")
        assert split_response(get(port))[2] == f"tiny {port}".encode()
        master = vassal(stats_port, "site.ini")["pid"]  # type: ignore[index]
        assert len(children(master)) == 1
        log = emperor.log()
        assert "broodlord mode is not built in polyhost" in log
        assert "option 'vassal-sos' is not available yet in polyhost" in log
        # nofollow: the symlink's own mtime counts, not its target's
        os.utime(available / "site.ini")
        (vassals / "other.ini").write_text(tiny_ini(tmp_path, free_port()))
        wait_for(lambda: accepting(stats_port, "other.ini"), 30, "a scan after the touch")
        assert "reload the uwsgi instance site.ini" not in emperor.log()
        os.utime(vassals / "site.ini", follow_symlinks=False)
        emperor.wait_log("[emperor] reload the uwsgi instance site.ini")
    finally:
        assert emperor.stop() == 0


def test_max_throttle_graceful_shutdown_and_vassal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each death adds emperor-throttle up to emperor-max-throttle (then uWSGI logs it and
    halves); UWSGI_VASSAL_X in the Emperor's environment is option X of every vassal."""
    (tmp_path / "tiny.py").write_text(TINY_APP)
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken site')\n")
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    port, stats_port = free_port(), free_port()
    (vassals / "good.ini").write_text(tiny_ini(tmp_path, port))
    (vassals / "broken.ini").write_text(
        f"[uwsgi]\nhttp-socket = 127.0.0.1:{free_port()}\nwsgi-file = {tmp_path}/broken.py\n"
        "need-app = true\n"
    )
    monkeypatch.setenv("UWSGI_VASSAL_PROCESSES", "2")
    emperor = emperor_with_stats(
        tmp_path,
        stats_port,
        "--emperor",
        str(vassals),
        "--emperor-throttle",
        "100",
        "--emperor-max-throttle",
        "300",
        "--emperor-graceful-shutdown",
    )
    try:
        wait_for(lambda: accepting(stats_port, "good.ini"), 30, "good.ini accepting")
        master = vassal(stats_port, "good.ini")["pid"]  # type: ignore[index]
        wait_for(lambda: len(children(master)) == 2, 20, "UWSGI_VASSAL_PROCESSES=2 workers")
        emperor.wait_log("[emperor] maximum throttle level for vassal broken.ini reached !!!", 60)
        levels = [b["throttle_level"] for b in stats(stats_port)["blacklist"]]
        assert levels and max(levels) <= 300  # halved once past the maximum
        assert split_response(get(port))[2] == f"tiny {port}".encode()
        assert "not available yet" not in emperor.log()
    finally:
        assert emperor.stop() == 0
