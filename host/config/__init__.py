"""polyhost's configuration: uWSGI's options, config files (ini, yaml, json), magic variables,
placeholders and config logic, read into one typed Config.

    cfg = load_config(sys.argv[1:])
    cfg.get("processes"); cfg.origin("socket", i=0); cfg.warnings
"""

from polyhost.config.config import Config, load_config
from polyhost.config.help import (
    render_help,
    render_option_help,
    render_show_config,
    render_version,
)
from polyhost.config.model import ConfigError
from polyhost.config.option_lookup import find_option
from polyhost.config.option_model import Option
from polyhost.config.options import OPTIONS
from polyhost.config.values import as_list, option_values

__all__ = [
    "OPTIONS",
    "Config",
    "ConfigError",
    "Option",
    "as_list",
    "find_option",
    "load_config",
    "option_values",
    "render_help",
    "render_option_help",
    "render_show_config",
    "render_version",
]
