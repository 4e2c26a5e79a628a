"""The Rack runtime (modifier1 7): Ruby apps served by rack_child.rb children."""

from __future__ import annotations

from pathlib import Path

from polyhost.bridges.child_runtime import ChildRuntime
from polyhost.bridges.ruby import RackDeclaration


class RackRuntime(RackDeclaration, ChildRuntime):
    """`--rack config.ru` or `--mount /x=config.ru`: Rack::Builder, one child per thread."""

    program = Path(__file__).with_name("rack_child.rb")
    interpreter = "ruby"
    library = "rack"

    def child_config(self) -> list[tuple[str, str]]:
        """`rb-lib` dirs go on $LOAD_PATH; `rb-require` and `shared-rb-require` files are
        required before the app (each child is its own process: nothing is shared);
        `ruby-gc-freq N` runs Ruby's GC every N requests (default 0: Ruby decides)."""
        config = [("lib", d) for d in self.option_values("rb-lib")]
        config += [("require", f) for f in self.option_values("shared-rb-require", "rb-require")]
        config += [("gc_freq", n) for n in self.option_values("ruby-gc-freq") if n != "0"]
        return config
