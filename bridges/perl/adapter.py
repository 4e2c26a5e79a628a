"""The PSGI runtime (modifier1 5): Perl apps served by psgi_child.pl children."""

from __future__ import annotations

from pathlib import Path

from polyhost.bridges.child_runtime import ChildRuntime
from polyhost.bridges.perl import PsgiDeclaration


class PsgiRuntime(PsgiDeclaration, ChildRuntime):
    """`--psgi app.psgi` or `--mount /x=app.psgi`: loaded like plackup, one child per thread."""

    program = Path(__file__).with_name("psgi_child.pl")
    interpreter = "perl"
    library = "Plack"
    #: `--coroae N`: the child runs Coro::AnyEvent (coroae.pl), N requests at once
    loop_options = ("coroae",)

    def child_config(self) -> list[tuple[str, str]]:
        """`perl-local-lib` dirs go on @INC as local::lib trees."""
        return [("local_lib", d) for d in self.option_values("perl-local-lib")]
