"""The PSGI runtime (modifier1 5): Perl apps served by psgi_child.pl children."""

from __future__ import annotations

from pathlib import Path

from polyhost.bridges.child_runtime import ChildRuntime


class PsgiRuntime(ChildRuntime):
    """`--psgi app.psgi` or `--mount /x=app.psgi`: loaded like plackup, one child per thread."""

    name = "psgi"
    language = "Perl"
    interface = "PSGI"
    modifier1 = 5
    app_options = ("psgi",)
    suffixes = (".psgi", ".pl")
    program = Path(__file__).with_name("psgi_child.pl")
    interpreter = "perl"
    interpreter_package = "perl"
    library = "Plack"
    library_package = "libplack-perl"
    #: `--coroae N`: the child runs Coro::AnyEvent (coroae.pl), N requests at once
    loop_options = ("coroae",)

    def child_config(self) -> list[tuple[str, str]]:
        """`perl-local-lib` dirs go on @INC as local::lib trees."""
        return [("local_lib", d) for d in self.option_values("perl-local-lib")]
