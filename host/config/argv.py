"""Command line and UWSGI_* environment variables to directives, with uWSGI's rules: long and
short options, bare flags, optional values, and a bare config file name meaning --ini FILE."""

from __future__ import annotations

from collections.abc import Mapping

from polyhost.config.loaders import format_of
from polyhost.config.model import ConfigError, Directive, Origin
from polyhost.config.option_lookup import all_option_names, find_option, find_short_option
from polyhost.config.option_model import Option

COMMAND_LINE = Origin("command line")

# UWSGI_* variables that carry process state rather than options (as uWSGI skips them)
_NOT_OPTIONS = frozenset(
    {
        "UWSGI_RELOADS",
        "UWSGI_VASSALS_DIR",
        "UWSGI_EMPEROR_FD",
        "UWSGI_BROODLORD_NUM",
        "UWSGI_EMPEROR_FD_CONFIG",
        "UWSGI_EMPEROR_PROXY",
        "UWSGI_JAIL_PID",
        "UWSGI_ORIGINAL_PROC_NAME",
    }
)


def suggestion(name: str, candidates: list[str] | None = None) -> str:
    """ " (did you mean 'x'?)" for the closest known name, or ""."""
    import difflib  # only for a mistyped option

    close = difflib.get_close_matches(name, candidates or all_option_names(), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _looks_like_value(token: str) -> bool:
    """Whether an optional-value option may take `token` (not an option, not a config file)."""
    return not token.startswith("-") and format_of(token.partition(":")[0]) is None


def _positional(token: str) -> Directive:
    fmt = format_of(token.partition(":")[0])
    if fmt is None:
        hint = " (to run a WSGI file use --wsgi-file FILE)" if token.endswith(".py") else ""
        raise ConfigError(
            f"command line: unable to load configuration from {token}: a bare argument must be a"
            f" config file ending in .ini, .yaml, .yml, .json or .js{hint}"
        )
    return Directive(fmt, token, COMMAND_LINE)


def parse_argv(argv: list[str]) -> list[Directive]:
    """The directives of a command line, in order. Raises ConfigError for unknown options."""
    directives: list[Directive] = []
    tokens = list(argv)
    index = 0

    def next_value(option: Option, shown: str) -> str | None:
        nonlocal index
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if option.bare is not None:
            if following is not None and _looks_like_value(following):
                index += 1
                return following
            return option.bare
        if following is None:
            raise ConfigError(f"command line: option '{shown}' needs a value")
        index += 1
        return following

    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            directives.extend(_positional(rest) for rest in tokens[index + 1 :])
            break
        if token.startswith("--"):
            name, equals, value = token[2:].partition("=")
            option = find_option(name)
            if option is None:
                raise ConfigError(f"command line: unknown option '--{name}'{suggestion(name)}")
            if equals:
                directives.append(Directive(name, value, COMMAND_LINE))
            elif option.type == "bool":
                directives.append(Directive(name, None, COMMAND_LINE))
            else:
                directives.append(Directive(name, next_value(option, token), COMMAND_LINE))
        elif token.startswith("-") and len(token) > 1:
            for position, letter in enumerate(token[1:], start=2):
                option = find_short_option(letter)
                if option is None:
                    raise ConfigError(f"command line: unknown option '-{letter}' in '{token}'")
                if option.type == "bool":
                    directives.append(Directive(option.name, None, COMMAND_LINE))
                    continue
                attached = token[position:].removeprefix("=")
                value = attached if attached else next_value(option, f"-{letter}")
                directives.append(Directive(option.name, value, COMMAND_LINE))
                break
        else:
            directives.append(_positional(token))
        index += 1
    return directives


def parse_environ(environ: Mapping[str, str]) -> list[Directive]:
    """Options given as UWSGI_<OPTION> environment variables (UWSGI_HTTP_SOCKET=:8000 is
    http-socket = :8000), read before the command line as uWSGI does."""
    directives = []
    for name, value in environ.items():
        if not name.startswith("UWSGI_") or name in _NOT_OPTIONS:
            continue
        if name.startswith("UWSGI_VASSAL_"):  # meant for the Emperor's vassals
            continue
        key = name[len("UWSGI_") :].lower().replace("_", "-")
        directives.append(Directive(key, value, Origin(f"env {name}")))
    return directives
