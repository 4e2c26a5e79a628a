"""The Emperor with real vassals: one skeleton with %n for two Flask sites behind a real nginx,
touch -> reload, remove -> stop, a broken vassal throttled, yaml/json vassals, a glob and a
symlinked apps-enabled, the stats JSON, and SIGTERM leaving no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Instance, free_port, get, split_response, wait_for
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
        self.emperor = Instance(
            ["--emperor", str(self.vassals), "--emperor-stats", f"127.0.0.1:{self.stats_port}"],
            root,
            None,
            root,
        )

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
    failures: list[str] = []
    stop = threading.Event()
    served = [0]

    def load() -> None:
        while not stop.is_set() and served[0] < 2000:
            status, body = via_nginx(nginx, "alpha")
            if status != 200:
                failures.append(f"{status} {body[:80]}")
            served[0] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: served[0] > 20, 10, "load running")
        os.utime(kingdom.vassals / "alpha.ini")
        kingdom.emperor.wait_log("[emperor] reload the uwsgi instance alpha.ini")
        wait_for(
            lambda: (c := set(children(master))) and not (c & before) and len(c) >= 2,
            30,
            "new workers",
        )
        wait_for(lambda: accepting(kingdom.stats_port, "alpha.ini"), 20, "alpha back")
        mark = served[0]
        wait_for(lambda: served[0] > mark + 20, 10, "load after reload")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not failures, failures[:5]
    assert vassal(kingdom.stats_port, "alpha.ini")["pid"] == master  # re-exec in place


def test_broken_vassal_is_throttled_while_others_serve(kingdom: Kingdom, nginx: Nginx) -> None:
    (kingdom.sites / "broken").mkdir()
    (kingdom.sites / "broken" / "app.py").write_text("raise RuntimeError('broken site')\n")
    kingdom.add("broken")

    def attempts() -> int:
        blacklist = stats(kingdom.stats_port)["blacklist"]
        item = next((b for b in blacklist if b["id"] == "broken.ini"), None)
        return item["attempt"] if item else 0

    wait_for(lambda: attempts() >= 3, 30, "broken.ini blacklisted three times")
    assert via_nginx(nginx, "beta")[0] == 200
    (kingdom.vassals / "broken.ini").unlink()
    kingdom.emperor.wait_log("[emperor] removed uwsgi instance broken.ini")
    log = kingdom.emperor.log()
    assert "unloyal bad behaving vassal found: broken.ini throttling it" in log
    deaths = log.count("[emperor] vassal broken.ini (pid:")
    errors = log.count("failed to load the WSGI app app:app: RuntimeError: broken site")
    assert deaths >= 3
    assert errors in (deaths, deaths + 1)  # one traceback per attempt (the last may be stopping)
    # throttled: the spawns are spread out, never a tight loop
    item_log = [line for line in log.splitlines() if "respawning vassal broken.ini" in line]
    assert len(item_log) <= deaths


def test_yaml_and_json_vassals(kingdom: Kingdom) -> None:
    (kingdom.root / "tiny.py").write_text(TINY_APP)
    ports = {"tiny-y.yaml": free_port(), "tiny-j.json": free_port()}
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
    for name, port in ports.items():
        wait_for(lambda n=name: accepting(kingdom.stats_port, n), 30, name)
        assert split_response(get(port))[2] == f"tiny {port}".encode()
        (kingdom.vassals / name).unlink()


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
    emperor = Instance(
        [
            "--emperor",
            str(tmp_path / "apps-enabled"),
            "--emperor",
            str(tmp_path / "globbed/*/site.ini"),
            "--emperor-stats",
            f"127.0.0.1:{stats_port}",
        ],
        tmp_path,
        None,
        tmp_path,
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
    # disabling the site (removing the symlink) stops it
    (root / "apps-enabled/shop.ini").unlink()
    emperor.wait_log("[emperor] removed uwsgi instance shop.ini")
