"""What polyhost's Emperor copies from real uWSGI 2.0, pinned by running /usr/bin/uwsgi's Emperor
on the same vassal files: the blacklist's numbers after two deaths of an unloyal vassal, the
keys of the emperor stats JSON, and a `daemonize` vassal that stays in the foreground."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_emperor import accepting, blacklisted, children, split_response, stats, vassal

from conftest import POLYHOST, Instance, free_port, get, wait_for

pytestmark = pytest.mark.skipif(shutil.which("uwsgi") is None, reason="needs Debian's uWSGI")

UWSGI = ["/usr/bin/uwsgi"]
GOOD_APP = """def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"good"]
"""


def _kingdom(root: Path) -> Path:
    vassals = root / "vassals"
    vassals.mkdir()
    (root / "good.py").write_text(GOOD_APP)
    for name, app in (("good", "good.py"), ("broken", "missing.py")):
        (vassals / f"{name}.ini").write_text(
            f"[uwsgi]\nplugins = python3\nneed-app = true\nwsgi-file = {root}/{app}\n"
            f"http-socket = 127.0.0.1:{free_port()}\n"
        )
    return vassals


def _after_two_deaths(program: list[str], root: Path) -> dict:
    vassals, stats_port = _kingdom(root), free_port()
    args = ["--emperor", str(vassals), "--emperor-throttle", "60000"]
    emperor = Instance(
        [*args, "--emperor-stats", f"127.0.0.1:{stats_port}"], root, None, root, program
    )
    try:
        wait_for(lambda: blacklisted(stats_port, 1), 30, "broken.ini blacklisted twice")
        return stats(stats_port)
    finally:
        emperor.stop()


def test_blacklist_and_stats_keys_match_uwsgi(tmp_path: Path) -> None:
    (tmp_path / "uwsgi").mkdir()
    (tmp_path / "polyhost").mkdir()
    theirs = _after_two_deaths(UWSGI, tmp_path / "uwsgi")
    ours = _after_two_deaths(POLYHOST, tmp_path / "polyhost")
    for data in (theirs, ours):
        (item,) = data["blacklist"]
        assert (item["id"], item["throttle_level"], item["attempt"]) == ("broken.ini", 60060, 1)
    assert set(theirs) <= set(ours)
    their_vassal = next(v for v in theirs["vassals"] if v["id"] == "good.ini")
    our_vassal = next(v for v in ours["vassals"] if v["id"] == "good.ini")
    assert set(their_vassal) <= set(our_vassal)
    assert set(theirs["blacklist"][0]) == set(ours["blacklist"][0])


def _daemonized_vassal(program: list[str], root: Path) -> tuple[bool, str]:
    """An Emperor with one vassal `daemonize = FILE`, once it serves: whether the pid in the
    Emperor's stats is still the Emperor's child, and the file."""
    vassals, stats_port, port = root / "vassals", free_port(), free_port()
    vassals.mkdir()
    (root / "good.py").write_text(GOOD_APP)
    (vassals / "d.ini").write_text(
        f"[uwsgi]\nplugins = python3\nwsgi-file = {root}/good.py\n"
        f"http-socket = 127.0.0.1:{port}\ndaemonize = {root}/d.log\n"
    )
    args = ["--emperor", str(vassals), "--emperor-stats", f"127.0.0.1:{stats_port}"]
    emperor = Instance(args, root, None, root, program)
    try:
        wait_for(lambda: accepting(stats_port, "d.ini"), 30, "d.ini accepting")
        assert split_response(get(port))[2] == b"good"
        info = vassal(stats_port, "d.ini")
        assert info is not None
        return info["pid"] in children(emperor.pid), (root / "d.log").read_text()
    finally:
        emperor.stop()


def test_a_daemonize_vassal_stays_in_the_foreground_as_in_uwsgi(tmp_path: Path) -> None:
    """uWSGI's uwsgi_setup_log: under an Emperor `daemonize = FILE` only logs to FILE."""
    for name, program in (("uwsgi", UWSGI), ("polyhost", POLYHOST)):
        (tmp_path / name).mkdir()
        child, text = _daemonized_vassal(program, tmp_path / name)
        assert child, name  # not an orphan left by a first process that exited
        assert "*** Starting " in text, name
