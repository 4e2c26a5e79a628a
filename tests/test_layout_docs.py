"""The README's Layout section and each bridge's README name the modules as they are (issue 10,
point 5): a module added without a line there, or one renamed, fails here."""

from __future__ import annotations

import re

from conftest import ROOT

PACKAGES = ("host", "rpc")
#: generated code, named through its .proto
GENERATED = {"polyhost_rpc_pb2.py"}


def _layout() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("\n## Layout") :]


def _named(text: str, filename: str) -> bool:
    return re.search(rf"`(?:[\w/]*/)?{re.escape(filename)}`", text) is not None


def test_the_layout_names_every_module() -> None:
    layout = _layout()
    missing = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py", *GENERATED)
        and not _named(layout, path.name)
    ]
    missing += [
        f"bridges/{path.name}"
        for path in sorted((ROOT / "bridges").glob("*.py"))
        if path.name != "__init__.py" and not _named(layout, path.name)
    ]
    assert not missing, "README.md's Layout does not name: " + ", ".join(missing)


def test_each_bridge_readme_names_its_files() -> None:
    missing = []
    for folder in sorted(p for p in (ROOT / "bridges").iterdir() if (p / "__init__.py").exists()):
        readme = folder / "README.md"
        if not readme.exists():
            # bridges/asgi has no README yet (its folder is another engineer's); the README's
            # "ASGI apps" section describes it
            assert folder.name == "asgi", f"{folder} has no README.md"
            continue
        text = readme.read_text()
        missing += [
            str(path.relative_to(ROOT))
            for path in sorted(folder.iterdir())
            if path.is_file()
            and path.suffix in (".py", ".pl", ".rb", ".lua", ".php", ".java", ".clj")
            and path.name != "__init__.py"
            and path.name not in text
            and path.stem not in text
        ]
    assert not missing, "bridge READMEs do not name: " + ", ".join(missing)
