"""Texts the command line prints instead of running: --version, --help (grouped, available
options only), --help-option NAME and --show-config, all made from the option table."""

from __future__ import annotations

from polyhost import UWSGI_COMPAT_VERSION, __version__
from polyhost.config.argv import suggestion
from polyhost.config.config import Config
from polyhost.config.engine import FILE_OPTIONS
from polyhost.config.model import ConfigError
from polyhost.config.option_lookup import component_title, find_option, group_title
from polyhost.config.option_model import Option
from polyhost.config.options import OPTIONS

_HELP_COLUMN = 38
_METAVARS = {"int": "N", "float": "NUMBER", "str": "VALUE"}


def render_version() -> str:
    """The --version line."""
    return f"polyhost {__version__} (uWSGI {UWSGI_COMPAT_VERSION} compatible)"


def _usage_form(option: Option) -> str:
    names = f"-{option.short}, --{option.name}" if option.short else f"    --{option.name}"
    metavar = option.metavar if option.metavar is not None else _METAVARS.get(option.type, "")
    if not metavar:
        return names
    if option.bare is not None:
        return f"{names}[={metavar}]"
    return f"{names} {metavar}"


def render_help(cfg: Config | None = None) -> str:
    """--help: the available options grouped, one line each. (`cfg` is accepted so the command
    line can pass what it loaded; the text does not depend on it.)"""
    lines = [
        "Usage: polyhost [CONFIG.ini|.yaml|.json] [--option VALUE ...]",
        "",
        "Every option also works as a key in ini/yaml/json config files and as an",
        "UWSGI_<OPTION> environment variable (dashes as underscores).",
    ]
    groups: dict[str, list[Option]] = {}
    for option in OPTIONS:
        if option.available:
            groups.setdefault(group_title(option), []).append(option)
    for group, options in groups.items():
        lines += ["", f"{group}:"]
        for option in options:
            form = _usage_form(option)
            padding = " " * max(1, _HELP_COLUMN - len(form) - 2)
            lines.append(f"  {form}{padding}{option.help}")
    waiting = sum(1 for option in OPTIONS if not option.available)
    lines += [
        "",
        f"{waiting} more uWSGI options are accepted but not available yet; they are reported at"
        " start-up.",
        "Details of one option: polyhost --help-option NAME",
    ]
    return "\n".join(lines) + "\n"


def _availability(option: Option) -> str:
    if option.available:
        return "yes"
    if option.component == "plugins":
        return "accepted and ignored: polyhost has every runtime built in"
    return f"not yet (accepted and reported at start-up; needs {component_title(option.component)})"


def render_option_help(name: str) -> str:
    """--help-option NAME: everything the table knows about one option. Raises ConfigError
    for an unknown name."""
    wanted = name.lstrip("-")
    option = find_option(wanted)
    if option is None:
        raise ConfigError(f"unknown option '{wanted}'{suggestion(wanted)}")
    if option.repeatable:
        default = ", ".join(option.default) if option.default else "(none)"
    else:
        default = "(none)" if option.default in (None, "") else str(option.default)
        if option.type == "bool":
            default = default.lower()
    fields = [
        ("aliases", ", ".join(option.aliases) or "(none)"),
        ("short form", f"-{option.short}" if option.short else "(none)"),
        ("type", option.type + (", repeatable" if option.repeatable else "")),
        ("default", default),
        ("component", option.component),
        ("group", group_title(option)),
        ("available", _availability(option)),
    ]
    if option.bare is not None:
        fields.append(("bare", f"--{option.name} alone means {option.bare or 'an empty value'}"))
    lines = [f"--{option.name}: {option.help}"]
    lines += [f"  {label + ':':<12}{value}" for label, value in fields]
    return "\n".join(lines) + "\n"


def render_show_config(cfg: Config) -> str:
    """--show-config: the resolved configuration as one ini section, in the order given (files
    already read are expanded in place, so their include/ini lines are left out). A `%` is
    written `%%`, so the text reads back as the same values."""
    lines = ["[uwsgi]"]
    for entry in cfg.entries():
        if entry.option is not None and entry.option.name in FILE_OPTIONS:
            continue
        value = "true" if entry.raw is None else (entry.value or "").replace("%", "%%")
        if entry.placeholder_only:
            lines.append(f"set-placeholder = {entry.key}={value}")
        else:
            lines.append(f"{entry.key} = {value}")
    return "\n".join(lines) + "\n"
