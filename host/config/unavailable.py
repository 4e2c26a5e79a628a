"""Honest about what is missing: the options polyhost has not built yet that change what a client
gets or who may get it (an HTTP router, routing rules, TLS, adaptive workers, async engines,
jails) stop the start with the list of them and what to use instead, unless
`allow-unavailable` is set; the others stay start-up warnings (polyhost.config.config)."""

from __future__ import annotations

from polyhost.config.config import Config
from polyhost.config.option_lookup import component_available, component_title, plugin_component

#: components whose options change the answers or who gets them -> what to use meanwhile
INSTEAD = {
    "http": "http-socket (each worker speaks HTTP), or nginx in front of a socket",
    "router": "rules in the front web server (nginx), or in the app",
    "ssl": "TLS in the front web server (nginx) in front of a socket or http-socket",
    "cheaper": "a fixed number of workers (processes = N)",
    "async": "threads = N",
    "security": "the service manager's sandboxing (systemd) or a container",
}


def blocking_options(config: Config) -> list[str]:
    """One line per given option (or plugin) of INSTEAD's components that is not available:
    where it was given, what it needs, what to use instead."""
    lines: list[str] = []
    for entry in config.entries():
        option = entry.option
        if option is None or option.available:
            continue
        given = [(entry.key, option.component)]
        if option.name in ("plugins", "need-plugins"):  # a plugin stands for its component
            given = [
                (f"plugin {plugin.strip()}", component)
                for plugin in str(entry.value or "").split(",")
                if (component := plugin_component(plugin) or "")
                and not component_available(component)
            ]
        for name, component in given:
            if component in INSTEAD:
                title = component_title(component)
                missing = (
                    f"is not built yet in {title}"
                    if component_available(component)
                    else f"needs {title}"
                )
                lines.append(
                    f"{entry.origin}: {name} {missing}; meanwhile use {INSTEAD[component]}"
                )
    return lines


def refusal(config: Config) -> str:
    """The message that stops the start, or "" when nothing stops it."""
    if config.get("allow-unavailable"):
        return ""
    lines = blocking_options(config)
    if not lines:
        return ""
    return "\n".join(
        [
            "these options are not available yet in polyhost and would change what clients get:",
            *(f"  {line}" for line in lines),
            "Start anyway with --allow-unavailable (they are then ignored).",
        ]
    )
