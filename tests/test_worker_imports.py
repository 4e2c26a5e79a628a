"""What a WSGI worker imports: the heavy modules load with the feature that uses them.

asyncio (and the ssl it imports) with an ASGI app or `--asyncio`/`--async`, PyYAML with a yaml
config, passlib and bcrypt with an htpasswd `basicauth` rule; the routing engine (and hashlib,
email.utils) with a `route*` rule, email.utils by the first static file served, a language's
adapter (and the child channel, shutil, tempfile) with an app of that language: a hello-world
worker carries none of them (issue 18, worker RSS).
Each case is a real polyhost whose app reports its worker's `sys.modules`.
"""

from __future__ import annotations

from pathlib import Path

from conftest import APPS, get, serving, split_response

APP = str(APPS / "wsgi" / "loaded_modules.py")


#: what the host itself imports only for a feature: the routing engine, the HTTP date helpers
HOST_FEATURES = ("polyhost.routing.serve", "hashlib", "email.utils")
#: the other languages' serving code (the catalog reads their declarations only) and what it
#: pulls in: the child channel, the static server, shutil and tempfile
OTHER_BRIDGES = (
    *(
        f"polyhost.bridges.{bridge}.adapter"
        for bridge in ("perl", "ruby", "lua", "jvm", "mono", "php", "cgi")
    ),
    "polyhost.bridges.channel",
    "polyhost.bridges.child_runtime",
    "polyhost.static",
    "shutil",
    "tempfile",
)


def _loaded(tmp_path: Path, *options: str, names: tuple[str, ...] = ()) -> str:
    with serving(tmp_path, ["--wsgi-file", APP, *options]) as inst:
        status, _, body = split_response(get(inst.port, "/?" + ",".join(names)))
    assert status == 200
    return body.decode()


def test_hello_worker_loads_none_of_them(tmp_path: Path) -> None:
    assert _loaded(tmp_path) == "-"


def test_each_loads_with_its_feature(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n")
    yaml_config = tmp_path / "app.yaml"
    yaml_config.write_text("uwsgi:\n  processes: 1\n")
    loaded = _loaded(
        tmp_path,
        "--yaml", str(yaml_config),
        "--route", f"^/private basicauth:realm,{htpasswd}",
        "--asyncio", "2",
    )  # fmt: skip
    assert loaded.split(",") == ["asyncio", "ssl", "yaml", "passlib", "bcrypt"]


def test_hello_worker_has_no_routing_engine(tmp_path: Path) -> None:
    assert _loaded(tmp_path, names=HOST_FEATURES) == "-"


def test_hello_worker_has_no_other_language_adapter(tmp_path: Path) -> None:
    assert _loaded(tmp_path, names=OTHER_BRIDGES) == "-"


def test_an_adapter_loads_with_an_app_of_its_runtime(tmp_path: Path) -> None:
    cgi_bin = tmp_path / "cgi-bin"
    cgi_bin.mkdir()
    loaded = _loaded(tmp_path, "--mount", f"/cgi={cgi_bin}", names=OTHER_BRIDGES)
    assert loaded == (
        "polyhost.bridges.cgi.adapter,polyhost.bridges.channel,polyhost.static,shutil,tempfile"
    )


def test_routing_loads_with_a_rule(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, "--route", "^/nothing$ break:404", names=HOST_FEATURES)
    assert loaded == "polyhost.routing.serve,hashlib,email.utils"
