"""The runtime catalog: each bridge declares its runtime, and adding one is one class plus one
`CATALOG.register` call (tests/apps/echo_bridge), with nothing to change in host/ or rpc/."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from polyhost.catalog import CATALOG
from polyhost.config.option_lookup import find_option
from polyhost.dispatch import Runtime

from conftest import APPS, ROOT, get, serving, split_response, wait_for

ECHO = APPS / "echo_bridge"


def test_a_runtime_is_one_class_and_one_registration(tmp_path: Path) -> None:
    """The echo runtime is mounted by its suffix, serves a request, and the RPC function it
    registered is called from a Python app of the same instance."""
    args = [
        "--mount",
        f"/echo={ECHO / 'greeting.echo'}",
        "--mount",
        f"/py={ECHO / 'calls_echo.py'}",
    ]
    with serving(tmp_path, args, program=[sys.executable, str(ECHO / "echo_bridge.py")]) as inst:
        status, _, body = split_response(get(inst.port, "/echo/there"))
        assert (status, body) == (200, b"hello from echo at \n/there")
        status, _, body = split_response(get(inst.port, "/py?first+second+third"))
        assert (status, body) == (200, b"third second first")


def test_two_runtimes_claiming_a_target_stop_the_start(polyhost, tmp_path: Path) -> None:
    both = tmp_path / "site"
    both.mkdir()
    (both / "web.config").write_text("<configuration/>")
    (both / "index.php").write_text("<?php echo 1;")
    inst = polyhost(["--http-socket", "127.0.0.1:0", "--mount", f"/site={both}"], ready=False)
    wait_for(lambda: inst.proc.poll() is not None, 15, "polyhost to refuse the start")
    log = inst.log()
    assert inst.proc.returncode != 0
    assert "command line: mount target" in log and "Mono (ASP.NET) (mono) and PHP (php)" in log


@pytest.mark.parametrize(
    ("target", "runtime"),
    [
        ("site/wsgi.py", "python"),
        ("mysite.wsgi:application", "python"),
        ("flask_app:app", "python"),
        ("app.psgi", "psgi"),
        ("config.ru", "rack"),
        ("app.lua", "lua"),
        ("app.clj", "jvm"),
        ("com.example.Hello:application", "jvm"),
        ("Handlers.dll:Hello", "mono"),
        ("/usr/share/dokuwiki", "php"),
        ("/usr/lib/cgi-bin", "cgi"),
        ("/bin/true", "cgi"),
    ],
)
def test_mount_targets_pick_the_runtime_that_claims_them(target: str, runtime: str) -> None:
    assert CATALOG.for_target(target).name == runtime


def test_declarations_agree_with_the_option_table_and_the_package_lists() -> None:
    apt = {
        line.strip()
        for path in (ROOT / "scripts").glob("apt-packages*.txt")
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pypi = {dep.split(">")[0].split("=")[0].lower() for dep in project["dependencies"]}
    runtimes = CATALOG.runtimes()
    assert len({rt.modifier1 for rt in runtimes}) == len(runtimes)
    suffixes = [suffix for rt in runtimes for suffix in rt.suffixes]
    assert len(set(suffixes)) == len(suffixes)
    for rt in runtimes:
        for option in rt.app_options:
            found = find_option(option)
            assert found is not None and found.available and found.component == rt.name
        assert set(rt.debian_packages) <= apt, rt.name
        assert {p.lower() for p in rt.pypi_packages} <= pypi, rt.name


def test_a_clashing_registration_names_both_runtimes() -> None:
    class Second(Runtime):
        name = "psgi2"
        language = "Perl"
        modifier1 = 5

    with pytest.raises(ValueError, match=r"Second .*clashes with PsgiDeclaration"):
        CATALOG.register(Second)


def test_the_host_reaches_bridges_only_through_the_catalog() -> None:
    """Nothing in host/ or rpc/ names a bridge module but the catalog's list (issue 10)."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("host", "rpc")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "host" / "catalog.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "polyhost.bridges" in line or "from polyhost import bridges" in line
    ]
    assert not found, "\n".join(found)
