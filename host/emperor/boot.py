"""The slim Emperor's entry script: `python -S -P host/emperor/boot.py FD ARGS...` (handover.py).

Without site there is no editable-install finder, so `polyhost` is registered from the
directory this file is in (its parent), whatever that directory is called; then
handover.run_slim reads the options on FD. ARGS are the user's, for ps.
"""

import os
import sys
from importlib.util import module_from_spec, spec_from_file_location


def _register_polyhost() -> None:
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = spec_from_file_location(
        "polyhost", os.path.join(package, "__init__.py"), submodule_search_locations=[package]
    )
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    sys.modules["polyhost"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    _register_polyhost()
    from polyhost.emperor.handover import run_slim

    sys.exit(run_slim(int(sys.argv[1])))
