"""The option table: every uWSGI 2.0 option polyhost knows, the type of its value, the component
that reads it, and whether polyhost implements it yet.

The rows come from uWSGI 2.0.21's own option arrays (the core and the plugins of the languages
polyhost hosts), so a config written for uWSGI never meets "unknown option" here. Options of
features polyhost has not built yet are accepted and reported at start-up, never dropped silently.
To turn a feature on, add its option names to AVAILABLE.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Row kinds of the table below; LIST is a repeatable string option.
FLAG, INT, STR, LIST = "flag", "int", "str", "list"
_KIND_TYPES = {FLAG: ("bool", False), INT: ("int", False), STR: ("str", False), LIST: ("str", True)}


@dataclass(frozen=True)
class Option:
    """One configuration option, as the table declares it."""

    name: str
    type: str  # "bool" | "int" | "str" | "float"
    repeatable: bool = False
    default: Any = None
    help: str = ""
    group: str = ""
    aliases: tuple[str, ...] = ()
    short: str | None = None
    component: str = "core"
    available: bool = False
    #: what a bare `--name` stands for on the command line (uWSGI's optional-argument options)
    bare: str | None = None
    #: a stricter check of the value, a key of VALUE_FORMATS
    format: str | None = None
    #: how --help names the value ("" for none); None: from the type
    metavar: str | None = None


#: The options polyhost implements today (main names; aliases follow their option).
AVAILABLE = frozenset(
    [
        "ini",
        "yaml",
        "json",
        "include",
        "inherit",
        "set",
        "set-placeholder",
        "strict",
        "show-config",
        "help",
        "help-option",
        "version",
        "for",
        "for-glob",
        "for-times",
        "for-readline",
        "endfor",
        "endif",
        "if-opt",
        "if-not-opt",
        "if-env",
        "if-not-env",
        "if-exists",
        "if-not-exists",
        "if-file",
        "if-not-file",
        "if-dir",
        "if-not-dir",
        "if-hostname",
        "if-not-hostname",
        "if-hostname-match",
        "if-not-hostname-match",
        "if-reload",
        "if-not-reload",
        "if-plugin",
        "if-not-plugin",
        "socket",
        "uwsgi-socket",
        "http-socket",
        "fastcgi-socket",
        "shared-socket",
        "chmod-socket",
        "chown-socket",
        "umask",
        "vacuum",
        "listen",
        "reuse-port",
        "buffer-size",
        "post-buffering",
        "socket-timeout",
        "http-socket-modifier1",
        "http-socket-modifier2",
        "http-modifier1",
        "http-modifier2",
        "socket-modifier1",
        "master",
        "processes",
        "threads",
        "enable-threads",
        "lazy-apps",
        "lazy",
        "thunder-lock",
        "die-on-term",
        "single-interpreter",
        "honour-stdin",
        "procname-prefix",
        "procname",
        "auto-procname",
        "harakiri",
        "max-requests",
        "min-worker-lifetime",
        "max-worker-lifetime",
        "reload-on-rss",
        "worker-reload-mercy",
        "reload-mercy",
        "touch-reload",
        "master-fifo",
        # process supervision (issue 15)
        "cheaper",
        "cheaper-initial",
        "cheaper-algo",
        "cheaper-step",
        "cheaper-overload",
        "cheaper-idle",
        "cheaper-rss-limit-soft",
        "cheaper-rss-limit-hard",
        "cheaper-busyness-max",
        "cheaper-busyness-min",
        "cheaper-busyness-multiplier",
        "cheaper-busyness-penalty",
        "cheaper-busyness-verbose",
        "cheaper-busyness-backlog-alert",
        "cheaper-busyness-backlog-multiplier",
        "cheaper-busyness-backlog-step",
        "cheaper-busyness-backlog-nonzero",
        "idle",
        "die-on-idle",
        "touch-chain-reload",
        "touch-workers-reload",
        "touch-mules-reload",
        "touch-spoolers-reload",
        "attach-daemon",
        "attach-daemon2",
        "attach-control-daemon",
        "smart-attach-daemon",
        "smart-attach-daemon2",
        "exec-asap",
        "exec-as-root",
        "exec-as-user",
        "exec-pre-app",
        "exec-post-app",
        "exec-as-user-atexit",
        "hook-asap",
        "hook-as-root",
        "hook-as-user",
        "hook-pre-app",
        "hook-post-app",
        "hook-master-start",
        "hook-post-fork",
        "hook-as-user-atexit",
        "enable-metrics",
        "metric",
        "metrics",
        "stats-no-metrics",
        "zerg",
        "zerg-fallback",
        "zerg-server",
        "zergpool",
        "protocol",
        "pidfile",
        "pidfile2",
        "chdir",
        "env",
        "mount",
        "manage-script-name",
        "need-app",
        "no-default-app",
        "module",
        "wsgi-file",
        # PSGI and Rack (issue 4)
        "psgi",
        "perl-local-lib",
        "rack",
        "rb-lib",
        "rb-require",
        "shared-rb-require",
        "ruby-gc-freq",
        # the fabric (issue 6)
        "mule",
        "mules",
        "farm",
        "spooler",
        "spooler-processes",
        "spooler-frequency",
        "spooler-ordered",
        "spooler-max-tasks",
        "spooler-harakiri",
        "spooler-external",
        "limit-post",
        "cache2",
        "cache",
        "cache-blocksize",
        "cache-store",
        "add-cache-item",
        "rpc-grpc",
        "rpc-nodes",
        "callable",
        "pythonpath",
        "home",
        "import",
        "uid",
        "gid",
        "daemonize",
        "logto",
        "logto2",
        "log-format",
        "log-date",
        "log-micros",
        "log-reopen",
        "disable-logging",
        "stats",
        "stats-http",
        "stats-minified",
        "lua",
        "lua-load",
        "jvm-classpath",
        "jvm-opt",
        "jvm-main-class",
        "jvm-class",
        "jwsgi",
        "ring-load",
        "ring-app",
        "mono-app",
        "mono-handler",
        "mono-index",
        "mono-key",
        "mono-assembly",
        "mono-gc-freq",
        "mono-config",
        "php-docroot",
        "php-app",
        "php-index",
        "php-allowed-ext",
        "php-allowed-docroot",
        "php-allowed-script",
        "php-set",
        "php-ini",
        # the Emperor (issue 14)
        "emperor",
        "emperor-nofollow",
        "emperor-procname",
        "emperor-freq",
        "emperor-required-heartbeat",
        "emperor-pidfile",
        "emperor-tyrant",
        "emperor-tyrant-nofollow",
        "emperor-tyrant-initgroups",
        "emperor-stats",
        "emperor-throttle",
        "emperor-max-throttle",
        "emperor-on-demand-extension",
        "emperor-on-demand-directory",
        "emperor-on-demand-exec",
        "emperor-extra-extension",
        "emperor-no-blacklist",
        "emperor-graceful-shutdown",
        "vassals-inherit",
        "vassals-include",
        "vassals-inherit-before",
        "vassals-include-before",
        "vassals-start-hook",
        "vassals-stop-hook",
        "vassals-set",
        "heartbeat",
        "die-on-idle",
        "php-var",
        "php-sapi-name",
        "php-server-software",
        "cgi",
        "cgi-map-helper",
        "cgi-allowed-ext",
        "cgi-index",
        "cgi-timeout",
        "cgi-safe",
        "cgi-close-stdin-on-eof",
        "cgi-unset",
        "check-static",
        "check-static-docroot",
        "static-map",
        "static-map2",
        "static-skip-ext",
        "static-index",
        "static-safe",
        "mimefile",
        "static-expires-type",
        "static-expires-type-mtime",
        "static-expires",
        "static-expires-mtime",
        "static-expires-uri",
        "static-expires-uri-mtime",
        "static-expires-path-info",
        "static-expires-path-info-mtime",
        "static-gzip",
        "static-gzip-all",
        "static-gzip-dir",
        "static-gzip-ext",
        "honour-range",
        "offload-threads",
        # WebSockets in the worker, fastrouter and subscriptions (issue 11, points 6-7)
        "websockets-max-size",
        "websockets-ping-freq",
        "websockets-pong-tolerance",
        "fastrouter",
        "fastrouter-processes",
        "fastrouter-use-pattern",
        "fastrouter-use-base",
        "fastrouter-to",
        "fastrouter-gracetime",
        "fastrouter-quiet",
        "fastrouter-subscription-server",
        "fastrouter-timeout",
        "fastrouter-stats",
        "subscribe-to",
        "subscribe2",
        "subscribe-freq",
        "subscription-tolerance",
        "subscribe-with-modifier1",
        "weight",
        "auto-weight",
    ]
)


def _o(name: str, kind: str, help: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "help": help, **extra}


def _section(group: str, component: str, *rows: dict[str, Any]) -> list[Option]:
    options = []
    for row in rows:
        extra = dict(row)
        name, kind, help_text = extra.pop("name"), extra.pop("kind"), extra.pop("help")
        type_name, repeatable = _KIND_TYPES[kind]
        if repeatable:
            extra.setdefault("default", ())
        elif kind == FLAG:
            extra.setdefault("default", False)
        options.append(
            Option(
                name=name,
                type=type_name,
                repeatable=repeatable,
                help=help_text,
                group=group,
                component=component,
                available=name in AVAILABLE,
                **extra,
            )
        )
    return options


def _runtime_section(runtime: str, *rows: dict[str, Any]) -> list[Option]:
    """A runtime's options: grouped under the runtime's name, which the catalog titles."""
    return _section(runtime, runtime, *rows)


OPTIONS: tuple[Option, ...] = (
    *_section(
        "Configuration",
        "core",
        _o(
            "ini", LIST, "load an ini file ([uwsgi] section unless given)", metavar="FILE[:SECTION]"
        ),
        _o(
            "yaml",
            LIST,
            "load a yaml file (top key uwsgi unless given)",
            short="y",
            aliases=("yml",),
            metavar="FILE[:SECTION]",
        ),
        _o(
            "json",
            LIST,
            "load a json file (top key uwsgi unless given)",
            short="j",
            aliases=("js",),
            metavar="FILE[:SECTION]",
        ),
        _o(
            "include",
            LIST,
            "read a config file here (format by extension)",
            metavar="FILE[:SECTION]",
        ),
        _o(
            "inherit",
            LIST,
            "use a config file as template: this file's keys win",
            metavar="FILE[:SECTION]",
        ),
        _o(
            "set",
            LIST,
            "set an option, or a placeholder when NAME is not an option",
            short="S",
            metavar="NAME=VALUE",
        ),
        _o(
            "set-placeholder",
            LIST,
            "set a placeholder, usable as %(NAME)",
            aliases=("set-ph",),
            metavar="NAME=VALUE",
        ),
        _o("strict", FLAG, "unknown keys are fatal (declare placeholders with set-placeholder)"),
        _o("show-config", FLAG, "print the resolved configuration as ini"),
        _o("help", FLAG, "show this help", short="h", aliases=("usage",)),
        _o("help-option", STR, "show everything about one option", metavar="NAME"),
        _o("version", FLAG, "print the polyhost version"),
        _o("xmlconfig", LIST, "load config from xml file", short="x", aliases=("xml",)),
        _o("config", LIST, "load configuration using the pluggable system"),
        _o("fallback-config", STR, "re-exec uwsgi with the specified config when exit code is 1"),
        _o("skip-zero", FLAG, "skip check of file descriptor 0"),
        _o("get", LIST, "print the specified option value and exit"),
        _o("declare-option", LIST, "declare a new uWSGI custom option"),
        _o("declare-option2", LIST, "declare a new uWSGI custom option (non-immediate)"),
        _o(
            "resolve",
            LIST,
            "place the result of a dns query in the specified placeholder, sytax: "
            "placeholder=name (immediate option)",
        ),
        _o("blacklist", STR, "set options blacklist context"),
        _o("end-blacklist", FLAG, "clear options blacklist context"),
        _o("whitelist", STR, "set options whitelist context"),
        _o("end-whitelist", FLAG, "clear options whitelist context"),
        _o(
            "inject-before", LIST, "inject a text file before the config file (advanced templating)"
        ),
        _o("inject-after", LIST, "inject a text file after the config file (advanced templating)"),
        _o("connect-and-read", STR, "connect to a socket and wait for data from it"),
        _o("extract", STR, "fetch/dump any supported address to stdout"),
        _o(
            "print-sym",
            STR,
            "print content of the specified binary symbol",
            aliases=("print-symbol",),
        ),
        _o("dump-options", FLAG, "dump the full list of available options"),
        _o(
            "binary-append-data",
            STR,
            "return the content of a resource to stdout for appending to a uwsgi binary (for "
            "data:// usage)",
        ),
        _o("print", LIST, "simple print"),
        _o("iprint", LIST, "simple print (immediate version)"),
        _o("exit", STR, "force exit() of the instance", bare=""),
        _o("cflags", FLAG, "report uWSGI CFLAGS (useful for building external plugins)"),
        _o(
            "dot-h",
            FLAG,
            "dump the uwsgi.h used for building the core  (useful for building external plugins)",
        ),
        _o(
            "config-py",
            FLAG,
            "dump the uwsgiconfig.py used for building the core  (useful for building "
            "external plugins)",
        ),
        _o("build-plugin", STR, "build a uWSGI plugin for the current binary"),
    ),
    *_section(
        "Config logic",
        "core",
        _o(
            "for",
            STR,
            "repeat the lines up to endfor for each space-separated item, as %(_)",
            metavar="ITEMS",
        ),
        _o(
            "for-glob",
            STR,
            "repeat the lines up to endfor for each matching path",
            metavar="PATTERN",
        ),
        _o("for-times", STR, "repeat the lines up to endfor with %(_) = 1..N", metavar="N"),
        _o(
            "for-readline",
            STR,
            "repeat the lines up to endfor for each line of FILE",
            metavar="FILE",
        ),
        _o(
            "endfor",
            STR,
            "end a for block (also end-for, end)",
            aliases=("end-for",),
            bare="",
            metavar="",
        ),
        _o(
            "if-opt",
            STR,
            "the lines up to endif apply if the option/placeholder is set",
            metavar="NAME[=VALUE]",
        ),
        _o(
            "if-not-opt",
            STR,
            "the lines up to endif apply if the option is not set",
            metavar="NAME[=VALUE]",
        ),
        _o(
            "if-env",
            STR,
            "the lines up to endif apply if the env var is set",
            aliases=("ifenv",),
            metavar="NAME[=VALUE]",
        ),
        _o(
            "if-not-env",
            STR,
            "the lines up to endif apply if the env var is not set",
            metavar="NAME[=VALUE]",
        ),
        _o(
            "if-exists",
            STR,
            "the lines up to endif apply if PATH exists",
            aliases=("ifexists",),
            metavar="PATH",
        ),
        _o(
            "if-not-exists",
            STR,
            "the lines up to endif apply if PATH does not exist",
            metavar="PATH",
        ),
        _o("if-file", STR, "the lines up to endif apply if PATH is a file", metavar="PATH"),
        _o("if-not-file", STR, "the lines up to endif apply if PATH is not a file", metavar="PATH"),
        _o(
            "if-dir",
            STR,
            "the lines up to endif apply if PATH is a directory",
            aliases=("ifdir", "if-directory"),
            metavar="PATH",
        ),
        _o(
            "if-not-dir",
            STR,
            "the lines up to endif apply if PATH is not a directory",
            metavar="PATH",
        ),
        _o("if-hostname", STR, "the lines up to endif apply on this host only", metavar="NAME"),
        _o(
            "if-not-hostname",
            STR,
            "the lines up to endif apply except on this host",
            metavar="NAME",
        ),
        _o(
            "if-hostname-match",
            STR,
            "the lines up to endif apply if the hostname matches",
            metavar="REGEXP",
        ),
        _o(
            "if-not-hostname-match",
            STR,
            "the lines up to endif apply unless the hostname matches",
            metavar="REGEXP",
        ),
        _o("if-reload", FLAG, "the lines up to endif apply when reloading"),
        _o("if-not-reload", FLAG, "the lines up to endif apply on the first start only"),
        _o(
            "if-plugin",
            STR,
            "the lines up to endif apply if the plugin's runtime is available",
            aliases=("ifplugin",),
            metavar="NAME",
        ),
        _o(
            "if-not-plugin",
            STR,
            "the lines up to endif apply unless the plugin's runtime is available",
            metavar="NAME",
        ),
        _o(
            "endif",
            STR,
            "end an if block (also end-if, end)",
            aliases=("end-if",),
            bare="",
            metavar="",
        ),
    ),
    *_section(
        "Sockets",
        "core",
        _o(
            "socket",
            LIST,
            "bind a socket (uwsgi protocol): HOST:PORT, /path, @abstract, fd://N",
            short="s",
            metavar="ADDR",
        ),
        _o("uwsgi-socket", LIST, "bind a socket speaking the uwsgi protocol", metavar="ADDR"),
        _o(
            "http-socket",
            LIST,
            "bind a socket speaking HTTP, served by the workers",
            metavar="ADDR",
        ),
        _o("fastcgi-socket", LIST, "bind a socket speaking FastCGI", metavar="ADDR"),
        _o(
            "shared-socket",
            LIST,
            "bind a socket before dropping privileges (use it as =N)",
            metavar="ADDR",
        ),
        _o(
            "chmod-socket",
            STR,
            "chmod unix sockets, e.g. 660 (a bare --chmod-socket means 666)",
            short="C",
            aliases=("chmod",),
            bare="666",
            format="mode",
            metavar="MODE",
        ),
        _o("chown-socket", STR, "chown unix sockets", metavar="USER[:GROUP]"),
        _o("vacuum", FLAG, "remove the unix sockets and pidfiles created, on exit"),
        _o(
            "listen",
            INT,
            "socket listen queue size (default 100)",
            short="l",
            default=100,
            metavar="N",
        ),
        _o("reuse-port", FLAG, "set SO_REUSEPORT on the sockets"),
        _o(
            "buffer-size",
            INT,
            "maximum size of a request's header/uwsgi packet (default 4096)",
            short="b",
            default=4096,
            metavar="BYTES",
        ),
        _o(
            "post-buffering",
            INT,
            "buffer request bodies bigger than BYTES to disk (0: never)",
            default=0,
            metavar="BYTES",
        ),
        _o(
            "socket-timeout",
            INT,
            "timeout of socket operations (default 4)",
            short="z",
            default=4,
            metavar="SECONDS",
        ),
        _o(
            "http-socket-modifier1",
            INT,
            "force the modifier1 of requests on http sockets",
            metavar="N",
        ),
        _o(
            "http-socket-modifier2",
            INT,
            "force the modifier2 of requests on http sockets",
            metavar="N",
        ),
        _o("http-modifier1", INT, "force the modifier1 of requests coming from HTTP", metavar="N"),
        _o("http-modifier2", INT, "force the modifier2 of requests coming from HTTP", metavar="N"),
        _o(
            "socket-modifier1", INT, "force the modifier1 of requests on uwsgi sockets", metavar="N"
        ),
        _o(
            "http11-socket",
            LIST,
            "bind to the specified UNIX/TCP socket using HTTP 1.1 (Keep-Alive) protocol",
        ),
        _o(
            "fastcgi-nph-socket",
            LIST,
            "bind to the specified UNIX/TCP socket using FastCGI protocol (nph mode)",
        ),
        _o("fastcgi-modifier1", INT, "force the specified modifier1 when using FastCGI protocol"),
        _o("fastcgi-modifier2", INT, "force the specified modifier2 when using FastCGI protocol"),
        _o("scgi-socket", LIST, "bind to the specified UNIX/TCP socket using SCGI protocol"),
        _o(
            "scgi-nph-socket",
            LIST,
            "bind to the specified UNIX/TCP socket using SCGI protocol (nph mode)",
        ),
        _o("scgi-modifier1", INT, "force the specified modifier1 when using SCGI protocol"),
        _o("scgi-modifier2", INT, "force the specified modifier2 when using SCGI protocol"),
        _o("raw-socket", LIST, "bind to the specified UNIX/TCP socket using RAW protocol"),
        _o("raw-modifier1", INT, "force the specified modifier1 when using RAW protocol"),
        _o("raw-modifier2", INT, "force the specified modifier2 when using RAW protocol"),
        _o(
            "puwsgi-socket",
            LIST,
            "bind to the specified UNIX/TCP socket using persistent uwsgi protocol (puwsgi)",
        ),
        _o(
            "protocol",
            STR,
            "force the specified protocol for default sockets",
            aliases=("socket-protocol",),
        ),
        _o(
            "undeferred-shared-socket",
            LIST,
            "create a shared socket for advanced jailing or ipc (undeferred mode)",
        ),
        _o("ignore-sigpipe", FLAG, "do not report (annoying) SIGPIPE"),
        _o("ignore-write-errors", FLAG, "do not report (annoying) write()/writev() errors"),
        _o(
            "write-errors-tolerance",
            INT,
            "set the maximum number of allowed write errors (default: no tolerance)",
        ),
        _o(
            "write-errors-exception-only",
            FLAG,
            "only raise an exception on write errors giving control to the app itself",
        ),
        _o("disable-write-exception", FLAG, "disable exception generation on write()/writev()"),
        _o(
            "max-vars",
            INT,
            "set the amount of internal iovec/vars structures",
            short="v",
            default=64,
        ),
        _o("abstract-socket", FLAG, "force UNIX socket in abstract mode (Linux only)", short="a"),
        _o("freebind", FLAG, "put socket in freebind mode"),
        _o("map-socket", LIST, "map sockets to specific workers"),
        _o("no-fd-passing", FLAG, "disable file descriptor passing"),
        _o("weight", INT, "weight of the instance (used by clustering/lb/subscriptions)"),
        _o(
            "auto-weight",
            FLAG,
            "set weight of the instance (used by clustering/lb/subscriptions) automatically",
        ),
        _o("no-defer-accept", FLAG, "disable deferred-accept on sockets"),
        _o("tcp-nodelay", FLAG, "enable TCP NODELAY on each request"),
        _o("so-keepalive", FLAG, "enable TCP KEEPALIVEs"),
        _o(
            "so-send-timeout",
            FLAG,
            "set SO_SNDTIMEO",
            aliases=("socket-send-timeout", "so-write-timeout", "socket-write-timeout"),
        ),
        _o("socket-sndbuf", INT, "set SO_SNDBUF"),
        _o("socket-rcvbuf", INT, "set SO_RCVBUF"),
        _o(
            "shutdown-sockets",
            FLAG,
            "force calling shutdown() in addition to close() when sockets are destroyed",
        ),
        _o("post-buffering-bufsize", INT, "set buffer size for read() in post buffering mode"),
        _o(
            "body-read-warning",
            INT,
            "set the amount of allowed memory allocation (in megabytes) for request body "
            "before starting printing a warning",
        ),
        _o(
            "upload-progress",
            STR,
            "enable creation of .json files in the specified directory during a file upload",
        ),
        _o("notify-socket", STR, "enable the notification socket"),
        _o(
            "close-on-exec",
            FLAG,
            "set close-on-exec on connection sockets (could be required for spawning "
            "processes in requests)",
        ),
        _o(
            "close-on-exec2",
            FLAG,
            "set close-on-exec on server sockets (could be required for spawning processes "
            "in requests)",
        ),
        _o("enable-proxy-protocol", FLAG, "enable PROXY1 protocol support (only for http parsers)"),
        _o(
            "tcp-fast-open",
            INT,
            "enable TCP_FASTOPEN flag on TCP sockets with the specified qlen value",
            aliases=("tcp-fastopen",),
        ),
        _o(
            "tcp-fast-open-client",
            FLAG,
            "use sendto(..., MSG_FASTOPEN, ...) instead of connect() if supported",
            aliases=("tcp-fastopen-client",),
        ),
        _o("allowed-modifiers", STR, "comma separated list of allowed modifiers"),
        _o("remap-modifier", STR, "remap request modifier from one id to another"),
        _o(
            "response-headers-limit",
            INT,
            "set response header maximum size (default: 64k)",
            default=65536,
        ),
    ),
    *_section(
        "Processes",
        "core",
        _o(
            "master", FLAG, "run the master process (polyhost default: on)", short="M", default=True
        ),
        _o(
            "processes",
            INT,
            "number of worker processes (default 1)",
            short="p",
            aliases=("workers",),
            default=1,
            metavar="N",
        ),
        _o("threads", INT, "threads per worker (default 1)", default=1, metavar="N"),
        _o(
            "enable-threads",
            FLAG,
            "let Python apps start threads (polyhost default: on)",
            short="T",
            default=True,
        ),
        _o("lazy-apps", FLAG, "load apps in each worker instead of the master"),
        _o("lazy", FLAG, "load apps in workers; reload restarts workers only"),
        _o("thunder-lock", FLAG, "serialize accept() between processes"),
        _o(
            "die-on-term",
            FLAG,
            "shut down on SIGTERM instead of reloading (polyhost default: on)",
            default=True,
        ),
        _o("single-interpreter", FLAG, "do not use one Python interpreter per app", short="i"),
        _o("honour-stdin", FLAG, "do not remap stdin to /dev/null"),
        _o("procname-prefix", STR, "prefix the process names", metavar="PREFIX"),
        _o("procname", STR, "set the process names", metavar="NAME"),
        _o("auto-procname", FLAG, "name processes after their role (master, worker N ...)"),
        _o("skip-atexit", FLAG, "skip atexit hooks (ignored by the master)"),
        _o("skip-atexit-teardown", FLAG, "skip atexit teardown (ignored by the master)"),
        _o("profiler", STR, "enable the specified profiler"),
        _o("cgi-mode", FLAG, "force CGI-mode for plugins supporting it", short="c"),
        _o("no-threads-wait", FLAG, "do not wait for threads cancellation on quit/reload"),
        _o("procname-prefix-spaced", STR, "add a spaced prefix to the process names"),
        _o("procname-append", STR, "append a string to process names"),
        _o("procname-master", STR, "set master process name"),
        _o(
            "force-gateway",
            FLAG,
            "force the spawn of the first registered gateway without a master",
        ),
        _o(
            "reaper",
            FLAG,
            "call waitpid(-1,...) after each request to get rid of zombies",
            short="r",
        ),
        _o("safe-fd", LIST, "do not close the specified file descriptor", aliases=("fd-safe",)),
        _o("no-server", FLAG, "force no-server mode"),
        _o("command-mode", FLAG, "force command mode"),
        _o("pcre-jit", FLAG, "enable pcre jit (if available)"),
        _o(
            "no-orphans",
            FLAG,
            "automatically kill workers if master dies (can be dangerous for availability)",
        ),
        _o("prio", INT, "set processes/threads priority"),
        _o("cpu-affinity", INT, "set cpu affinity"),
        _o("check-interval", INT, "set the interval (in seconds) of master checks"),
        _o("binary-path", STR, "force binary path"),
        _o(
            "privileged-binary-patch",
            STR,
            "patch the uwsgi binary with a new command (before privileges drop)",
        ),
        _o(
            "unprivileged-binary-patch",
            STR,
            "patch the uwsgi binary with a new command (after privileges drop)",
        ),
        _o(
            "privileged-binary-patch-arg",
            STR,
            "patch the uwsgi binary with a new command and arguments (before privileges drop)",
        ),
        _o(
            "unprivileged-binary-patch-arg",
            STR,
            "patch the uwsgi binary with a new command and arguments (after privileges drop)",
        ),
        _o("max-fd", INT, "set maximum number of file descriptors (requires root privileges)"),
        _o(
            "thread-stacksize",
            INT,
            "set threads stacksize",
            aliases=("threads-stacksize", "thread-stack-size", "threads-stack-size"),
        ),
        _o("clock", STR, "set a clock source"),
        _o("clock-list", FLAG, "list enabled clocks", aliases=("clocks-list",)),
        _o("worker-exec", STR, "run the specified command as worker"),
        _o("worker-exec2", STR, "run the specified command as worker (after post_fork hook)"),
    ),
    *_section(
        "Recycling and timeouts",
        "core",
        _o(
            "harakiri",
            INT,
            "kill a worker stuck on one request longer than this (0: never)",
            short="t",
            default=0,
            metavar="SECONDS",
        ),
        _o(
            "max-requests",
            INT,
            "recycle a worker after N requests (0: never)",
            short="R",
            default=0,
            metavar="N",
        ),
        _o(
            "min-worker-lifetime",
            INT,
            "never recycle a worker younger than this (default 10)",
            default=10,
            metavar="SECONDS",
        ),
        _o(
            "max-worker-lifetime",
            INT,
            "recycle workers older than this (0: never)",
            default=0,
            metavar="SECONDS",
        ),
        _o(
            "reload-on-rss",
            INT,
            "recycle a worker whose resident memory exceeds MB (0: never)",
            default=0,
            metavar="MB",
        ),
        _o("harakiri-verbose", FLAG, "enable verbose mode for harakiri"),
        _o(
            "harakiri-no-arh",
            FLAG,
            "do not enable harakiri during after-request-hook",
            aliases=("no-harakiri-arh", "no-harakiri-after-req-hook"),
        ),
        _o("backtrace-depth", INT, "set backtrace depth"),
        _o(
            "max-worker-lifetime-delta",
            INT,
            "add (worker_id * delta) seconds to the max_worker_lifetime value of each worker",
        ),
        _o("limit-as", INT, "limit processes address space/vsz"),
        _o("limit-nproc", INT, "limit the number of spawnable processes"),
        _o("reload-on-as", INT, "reload if address space is higher than specified megabytes"),
        _o(
            "evil-reload-on-as",
            INT,
            "force the master to reload a worker if its address space is higher than "
            "specified megabytes",
        ),
        _o(
            "evil-reload-on-rss",
            INT,
            "force the master to reload a worker if its rss memory is higher than specified "
            "megabytes",
        ),
        _o(
            "mem-collector-freq",
            INT,
            "set the memory collector frequency when evil reloads are in place",
        ),
        _o("limit-post", INT, "limit request body"),
        _o(
            "catch-exceptions",
            FLAG,
            "report exception as http output (discouraged, use only for testing)",
        ),
        _o("reload-on-exception", FLAG, "reload a worker when an exception is raised"),
        _o(
            "reload-on-exception-type",
            LIST,
            "reload a worker when a specific exception type is raised",
        ),
        _o(
            "reload-on-exception-value",
            LIST,
            "reload a worker when a specific exception value is raised",
        ),
        _o(
            "reload-on-exception-repr",
            LIST,
            "reload a worker when a specific exception type+value (language-specific) is raised",
        ),
        _o("exception-handler", LIST, "add an exception handler"),
    ),
    *_section(
        "Reloading and control",
        "core",
        _o(
            "worker-reload-mercy",
            INT,
            "wait this long for a worker to reload/stop (default 60)",
            default=60,
            metavar="SECONDS",
        ),
        _o(
            "reload-mercy",
            INT,
            "wait this long for all processes to reload/stop (default 30)",
            default=30,
            metavar="SECONDS",
        ),
        _o("touch-reload", LIST, "reload gracefully when FILE is modified/touched", metavar="FILE"),
        _o(
            "master-fifo",
            LIST,
            "control the master by writing commands to this fifo",
            metavar="PATH",
        ),
        _o("stop", STR, "stop an instance"),
        _o("reload", STR, "reload an instance"),
        _o("pause", STR, "pause an instance"),
        _o("suspend", STR, "suspend an instance"),
        _o("resume", STR, "resume an instance"),
        _o("exit-on-reload", FLAG, "force exit even if a reload is requested"),
        _o("reload-on-fd", LIST, "reload if the specified file descriptor is ready"),
        _o("brutal-reload-on-fd", LIST, "brutal reload if the specified file descriptor is ready"),
        _o(
            "touch-workers-reload",
            LIST,
            "trigger reload of (only) workers if the specified file is modified/touched",
        ),
        _o("touch-mules-reload", LIST, "reload mules if the specified file is modified/touched"),
        _o(
            "touch-spoolers-reload",
            LIST,
            "reload spoolers if the specified file is modified/touched",
        ),
        _o(
            "touch-chain-reload",
            LIST,
            "trigger chain reload if the specified file is modified/touched",
        ),
        _o(
            "touch-logrotate", LIST, "trigger logrotation if the specified file is modified/touched"
        ),
        _o("touch-logreopen", LIST, "trigger log reopen if the specified file is modified/touched"),
        _o(
            "touch-exec",
            LIST,
            "run command when the specified file is modified/touched (syntax: file command)",
        ),
        _o("fs-reload", LIST, "graceful reload when the specified filesystem object is modified"),
        _o(
            "fs-brutal-reload",
            LIST,
            "brutal reload when the specified filesystem object is modified",
        ),
        _o(
            "check-mountpoint",
            LIST,
            "destroy the instance if a filesystem is no more reachable (useful for reliable "
            "Fuse management)",
            aliases=("mountpoint-check", "check-mount", "mount-check"),
        ),
        _o(
            "propagate-touch",
            FLAG,
            "over-engineering option for system with flaky signal management",
        ),
    ),
    *_section(
        "Applications",
        "core",
        _o("chdir", STR, "chdir to DIR before loading apps", metavar="DIR"),
        _o("env", LIST, "set an environment variable", metavar="NAME=VALUE"),
        _o(
            "mount",
            LIST,
            "load an app at a mountpoint",
            aliases=("worker-mount",),
            metavar="MOUNTPOINT=APP",
        ),
        _o("manage-script-name", FLAG, "strip the mountpoint from PATH_INFO into SCRIPT_NAME"),
        _o("need-app", FLAG, "exit if no app can be loaded (polyhost default: on)", default=True),
        _o("no-default-app", FLAG, "do not fall back to the first app for unmatched mountpoints"),
        _o("max-apps", INT, "set the maximum number of per-worker applications"),
        _o("ignore-script-name", FLAG, "ignore SCRIPT_NAME"),
        _o("force-cwd", STR, "force the initial working directory to the specified value"),
        _o("binsh", LIST, "override /bin/sh (used by exec hooks, it always fallback to /bin/sh)"),
        _o("chdir2", STR, "chdir to specified directory after apps loading"),
        _o("vhost", FLAG, "enable virtualhosting mode (based on SERVER_NAME variable)"),
        _o("vhost-host", FLAG, "enable virtualhosting mode (based on HTTP_HOST variable)"),
        _o("mode", STR, "set uWSGI custom mode"),
        _o("envdir", LIST, "load a daemontools compatible envdir"),
        _o("early-envdir", LIST, "load a daemontools compatible envdir ASAP"),
        _o("unenv", LIST, "unset environment variable"),
        _o(
            "file-write",
            LIST,
            "write the specified content to the specified file (syntax: file=value) before "
            "privileges drop",
        ),
    ),
    *_runtime_section(
        "python",
        _o(
            "module",
            STR,
            "load a WSGI module",
            short="w",
            aliases=("wsgi",),
            metavar="MODULE[:CALLABLE]",
        ),
        _o("wsgi-file", STR, "load a .wsgi/.py file", aliases=("file",), metavar="FILE"),
        _o(
            "callable",
            STR,
            "name of the WSGI callable (default application)",
            default="application",
            metavar="NAME",
        ),
        _o(
            "pythonpath",
            LIST,
            "add a directory (or glob) to sys.path",
            aliases=("python-path", "pp"),
            metavar="DIR",
        ),
        _o(
            "home",
            STR,
            "use this virtualenv/PYTHONHOME",
            short="H",
            aliases=("virtualenv", "venv", "pyhome"),
            metavar="DIR",
        ),
        _o(
            "import",
            LIST,
            "import a Python module at start-up",
            aliases=("pyimport", "py-import", "python-import"),
            metavar="MODULE",
        ),
        _o("eval", STR, "eval python code"),
        _o("test", STR, "test a module import", short="J"),
        _o("py-programname", STR, "set python program name", aliases=("py-program-name",)),
        _o("pymodule-alias", LIST, "add a python alias module"),
        _o(
            "post-pymodule-alias",
            LIST,
            "add a python module alias after uwsgi module initialization",
        ),
        _o(
            "shared-import",
            LIST,
            "import a python module in all of the processes",
            aliases=("shared-pyimport", "shared-py-import", "shared-python-import"),
        ),
        _o(
            "spooler-import",
            LIST,
            "import a python module in the spooler",
            aliases=("spooler-pyimport", "spooler-py-import", "spooler-python-import"),
        ),
        _o("pyargv", STR, "manually set sys.argv"),
        _o("optimize", INT, "set python optimization level", short="O"),
        _o("pecan", STR, "load a pecan config file"),
        _o("paste", STR, "load a paste.deploy config file"),
        _o("paste-logger", FLAG, "enable paste fileConfig logger"),
        _o("web3", STR, "load a web3 app"),
        _o("pump", STR, "load a pump app"),
        _o("wsgi-lite", STR, "load a wsgi-lite app"),
        _o("ini-paste", STR, "load a paste.deploy config file containing uwsgi section"),
        _o(
            "ini-paste-logged",
            STR,
            "load a paste.deploy config file containing uwsgi section (load loggers too)",
        ),
        _o("reload-os-env", FLAG, "force reload of os.environ at each request"),
        _o("no-site", FLAG, "do not import site module"),
        _o("pyshell", STR, "run an interactive python shell in the uWSGI environment", bare=""),
        _o(
            "pyshell-oneshot",
            STR,
            "run an interactive python shell in the uWSGI environment (one-shot variant)",
            bare="",
        ),
        _o("python", LIST, "run a python script in the uWSGI environment", aliases=("py", "pyrun")),
        _o("py-tracebacker", STR, "enable the uWSGI python tracebacker"),
        _o(
            "py-auto-reload",
            INT,
            "monitor python modules mtime to trigger reload (use only in development)",
            aliases=("py-autoreload", "python-auto-reload", "python-autoreload"),
        ),
        _o(
            "py-auto-reload-ignore",
            LIST,
            "ignore the specified module during auto-reload scan (can be specified multiple times)",
        ),
        _o(
            "wsgi-env-behaviour",
            STR,
            "set the strategy for allocating/deallocating the WSGI env",
            aliases=("wsgi-env-behavior",),
        ),
        _o(
            "start_response-nodelay",
            FLAG,
            "send WSGI http headers as soon as possible (PEP violation)",
        ),
        _o("wsgi-strict", FLAG, "try to be fully PEP compliant disabling optimizations"),
        _o(
            "wsgi-accept-buffer",
            FLAG,
            "accept CPython buffer-compliant objects as WSGI response in addition to string/bytes",
            aliases=("wsgi-accept-buffers",),
        ),
        _o("wsgi-disable-file-wrapper", FLAG, "disable wsgi.file_wrapper feature"),
        _o("python-version", FLAG, "report python version"),
        _o("python-raw", STR, "load a python file for managing raw requests"),
        _o(
            "py-sharedarea",
            LIST,
            "create a sharedarea from a python bytearray object of the specified size",
        ),
        _o(
            "py-call-osafterfork", FLAG, "enable child processes running cpython to trap OS signals"
        ),
        _o(
            "py-call-uwsgi-fork-hooks",
            FLAG,
            "call pre and post hooks when uswgi forks to update the internal interpreter "
            "state of CPython",
        ),
        _o("python-worker-override", STR, "override worker with the specified python script"),
        _o("py-executable", STR, "override sys.executable value", aliases=("py-sys-executable",)),
    ),
    *_section(
        "Privileges and daemon",
        "core",
        _o("umask", STR, "set the umask", metavar="MASK"),
        _o("uid", STR, "drop privileges to this user (name or id)", metavar="USER"),
        _o("gid", STR, "drop privileges to this group (name or id)", metavar="GROUP"),
        _o(
            "daemonize",
            STR,
            "run in the background, logging to LOGFILE",
            short="d",
            metavar="LOGFILE",
        ),
        _o("pidfile", STR, "write the master pid (before privileges drop)", metavar="FILE"),
        _o("pidfile2", STR, "write the master pid (after privileges drop)", metavar="FILE"),
        _o("daemonize2", STR, "daemonize uWSGI after app loading"),
        _o("flock", LIST, "lock the specified file before starting, exit if locked"),
        _o("flock-wait", LIST, "lock the specified file before starting, wait if locked"),
        _o("flock2", STR, "lock the specified file after logging/daemon setup, exit if locked"),
        _o(
            "flock-wait2", STR, "lock the specified file after logging/daemon setup, wait if locked"
        ),
        _o("safe-pidfile", STR, "create safe pidfile (before privileges drop)"),
        _o("safe-pidfile2", STR, "create safe pidfile (after privileges drop)"),
    ),
    *_section(
        "Logging",
        "logging",
        _o(
            "logto",
            STR,
            "log to FILE or a udp address (opened before privileges drop)",
            metavar="FILE",
        ),
        _o(
            "logto2",
            STR,
            "log to FILE or a udp address (opened after privileges drop)",
            metavar="FILE",
        ),
        _o(
            "log-format",
            STR,
            "request log format, e.g. %(addr) %(method) %(uri) %(status)",
            aliases=("logformat",),
            metavar="FORMAT",
        ),
        _o(
            "log-date",
            STR,
            "prefix log lines with the date (or a strftime format)",
            aliases=("logdate",),
            bare="true",
            format="logdate",
            metavar="STRFTIME",
        ),
        _o("log-micros", FLAG, "report response times in microseconds"),
        _o("log-reopen", FLAG, "reopen the log file on reload"),
        _o("disable-logging", FLAG, "do not log requests", short="L"),
        _o("memory-report", FLAG, "add memory usage to request logs", short="m"),
        _o(
            "logformat-strftime",
            FLAG,
            "apply strftime to logformat output",
            aliases=("log-format-strftime",),
        ),
        _o("logfile-chown", FLAG, "chown logfiles"),
        _o("logfile-chmod", STR, "chmod logfiles"),
        _o("log-syslog", LIST, "log to syslog", bare=""),
        _o("log-socket", LIST, "send logs to the specified socket"),
        _o("req-logger", LIST, "set/append a request logger", aliases=("logger-req",)),
        _o("logger", LIST, "set/append a logger"),
        _o("logger-list", FLAG, "list enabled loggers", aliases=("loggers-list",)),
        _o("threaded-logger", FLAG, "offload log writing to a thread"),
        _o("log-encoder", LIST, "add an item in the log encoder chain"),
        _o("log-req-encoder", LIST, "add an item in the log req encoder chain"),
        _o("log-drain", LIST, "drain (do not show) log lines matching the specified regexp"),
        _o("log-filter", LIST, "show only log lines matching the specified regexp"),
        _o(
            "log-route",
            LIST,
            "log to the specified named logger if regexp applied on logline matches",
        ),
        _o(
            "log-req-route",
            LIST,
            "log requests to the specified named logger if regexp applied on logline matches",
        ),
        _o(
            "use-abort",
            FLAG,
            "call abort() on segfault/fpe, could be useful for generating a core dump",
        ),
        _o("log-master", FLAG, "delegate logging to master process"),
        _o(
            "log-master-bufsize",
            INT,
            "set the buffer size for the master logger. bigger log messages will be truncated",
        ),
        _o("log-master-stream", FLAG, "create the master logpipe as SOCK_STREAM"),
        _o("log-master-req-stream", FLAG, "create the master requests logpipe as SOCK_STREAM"),
        _o("log-truncate", FLAG, "truncate log on startup"),
        _o("log-maxsize", INT, "set maximum logfile size"),
        _o("log-backupname", STR, "set logfile name after rotation"),
        _o("log-prefix", STR, "prefix logs with a string", bare="true"),
        _o("log-zero", FLAG, "log responses without body"),
        _o("log-slow", INT, "log requests slower than the specified number of milliseconds"),
        _o("log-4xx", FLAG, "log requests with a 4xx response"),
        _o("log-5xx", FLAG, "log requests with a 5xx response"),
        _o("log-big", INT, "log requestes bigger than the specified size"),
        _o("log-sendfile", FLAG, "log sendfile requests"),
        _o("log-ioerror", FLAG, "log requests with io errors"),
        _o(
            "log-x-forwarded-for",
            FLAG,
            "use the ip from X-Forwarded-For header instead of REMOTE_ADDR",
        ),
        _o(
            "rsyslog-packet-size",
            INT,
            "set maximum packet size for syslog messages (default 1024) WARNING! using "
            "packets > 1024 breaks RFC 3164 (#4.1)",
        ),
        _o(
            "rsyslog-split-messages",
            FLAG,
            "split big messages into multiple chunks if they are bigger than allowed packet "
            "size (default is false)",
        ),
    ),
    *_section(
        "Stats and metrics",
        "stats",
        _o(
            "stats",
            STR,
            "serve stats json on ADDR (keep it private)",
            aliases=("stats-server",),
            metavar="ADDR",
        ),
        _o("stats-http", FLAG, "answer stats with HTTP headers"),
        _o("stats-minified", FLAG, "minify the stats json", aliases=("stats-min",)),
        _o("enable-metrics", FLAG, "enable metrics subsystem"),
        _o(
            "metrics",
            STR,
            "polyhost: serve the Prometheus text format on ADDR (host:port or a unix path)",
            metavar="ADDR",
        ),
        _o("metric", LIST, "add a custom metric"),
        _o(
            "metric-threshold",
            LIST,
            "add a metric threshold/alarm",
            aliases=("metric-alarm", "alarm-metric"),
        ),
        _o(
            "metrics-dir",
            STR,
            "export metrics as text files to the specified directory",
            aliases=("metric-dir",),
        ),
        _o(
            "metrics-dir-restore",
            FLAG,
            "restore last value taken from the metrics dir",
            aliases=("metric-dir-restore",),
        ),
        _o("metrics-no-cores", FLAG, "disable generation of cores-related metrics"),
        _o("udp", STR, "run the udp server on the specified address"),
        _o("stats-push", LIST, "push the stats json to the specified destination"),
        _o(
            "stats-pusher-default-freq",
            INT,
            "set the default frequency of stats pushers",
            aliases=("stats-pushers-default-freq",),
        ),
        _o("stats-no-cores", FLAG, "disable generation of cores-related stats"),
        _o("stats-no-metrics", FLAG, "do not include metrics in stats output"),
        _o("multicast", STR, "subscribe to specified multicast group"),
        _o("multicast-ttl", INT, "set multicast ttl"),
        _o("multicast-loop", INT, "set multicast loop (default 1)"),
        _o("snmp", STR, "enable the embedded snmp server", bare=""),
        _o("snmp-community", LIST, "set the snmp community string"),
        _o("carbon", LIST, "push statistics to the specified carbon server"),
        _o(
            "carbon-timeout", INT, "set carbon connection timeout in seconds (default 3)", default=3
        ),
        _o("carbon-freq", INT, "set carbon push frequency in seconds (default 60)", default=60),
        _o("carbon-id", STR, "set carbon id"),
        _o("carbon-no-workers", FLAG, "disable generation of single worker metrics"),
        _o(
            "carbon-max-retry",
            INT,
            "set maximum number of retries in case of connection errors (default 1)",
            default=1,
        ),
        _o(
            "carbon-retry-delay",
            INT,
            "set connection retry delay in seconds (default 7)",
            default=7,
        ),
        _o("carbon-root", STR, "set carbon metrics root node (default 'uwsgi')"),
        _o(
            "carbon-hostname-dots",
            STR,
            "set char to use as a replacement for dots in hostname (dots are not replaced by "
            "default)",
        ),
        _o(
            "carbon-name-resolve",
            FLAG,
            "allow using hostname as carbon server address (default disabled)",
            aliases=("carbon-resolve-names",),
        ),
        _o(
            "carbon-idle-avg",
            STR,
            'average values source during idle period (no requests), can be "last", "zero", '
            '"none" (default is last)',
        ),
        _o(
            "carbon-use-metrics",
            FLAG,
            "don't compute all statistics, use metrics subsystem data instead (warning! key "
            "names will be different)",
        ),
    ),
    *_section(
        "SSL",
        "ssl",
        _o(
            "suwsgi-socket",
            LIST,
            "bind to the specified UNIX/TCP socket using uwsgi protocol over SSL",
            aliases=("ssl-socket",),
        ),
        _o("https-socket", LIST, "bind to the specified UNIX/TCP socket using HTTPS protocol"),
        _o(
            "https-socket-modifier1", INT, "force the specified modifier1 when using HTTPS protocol"
        ),
        _o(
            "https-socket-modifier2", INT, "force the specified modifier2 when using HTTPS protocol"
        ),
        _o("ssl-verbose", FLAG, "be verbose about SSL errors"),
        _o("ssl-verify-depth", INT, "set maximum certificate verification depth", bare="1"),
        _o(
            "ssl-sessions-use-cache",
            STR,
            "use uWSGI cache for ssl sessions storage",
            aliases=("ssl-session-use-cache",),
            bare="",
        ),
        _o(
            "ssl-sessions-timeout",
            INT,
            "set SSL sessions timeout (default: 300 seconds)",
            aliases=("ssl-session-timeout",),
            default=300,
        ),
        _o("sni", LIST, "add an SNI-governed SSL context"),
        _o(
            "sni-dir",
            STR,
            "check for cert/key/client_ca file in the specified directory and create a "
            "sni/ssl context on demand",
        ),
        _o("sni-dir-ciphers", STR, "set ssl ciphers for sni-dir option"),
        _o("ssl-enable3", FLAG, "enable SSLv3 (insecure)", aliases=("ssl-enable-sslv3",)),
        _o("ssl-enable-tlsv1", FLAG, "enable TLSv1 (insecure)"),
        _o("ssl-option", FLAG, "set a raw ssl option (numeric value)"),
        _o("sni-regexp", LIST, "add an SNI-governed SSL context (the key is a regexp)"),
        _o("ssl-tmp-dir", STR, "store ssl-related temp files in the specified directory"),
    ),
    *_section(
        "HTTP router",
        "http",
        _o(
            "http",
            LIST,
            "add an http router/server on the specified address",
            aliases=("httprouter",),
        ),
        _o(
            "https",
            LIST,
            "add an https router/server on the specified address with specified certificate "
            "and key",
        ),
        _o("https2", LIST, "add an https/spdy router/server using keyval options"),
        _o(
            "https-export-cert",
            FLAG,
            "export uwsgi variable HTTPS_CC containing the raw client certificate",
        ),
        _o("https-session-context", STR, "set the session id context to the specified value"),
        _o(
            "http-to-https",
            LIST,
            "add an http router/server on the specified address and redirect all of the "
            "requests to https",
        ),
        _o(
            "http-processes",
            INT,
            "set the number of http processes to spawn",
            aliases=("http-workers",),
        ),
        _o("http-var", LIST, "add a key=value item to the generated uwsgi packet"),
        _o(
            "http-to",
            LIST,
            "forward requests to the specified node (you can specify it multiple time for lb)",
        ),
        _o("http-zerg", LIST, "attach the http router to a zerg server"),
        _o("http-fallback", LIST, "fallback to the specified node in case of error"),
        _o("http-use-cache", STR, "use uWSGI cache as key->value virtualhost mapper", bare=""),
        _o(
            "http-use-pattern",
            STR,
            "use the specified pattern for mapping requests to unix sockets",
        ),
        _o("http-use-base", STR, "use the specified base for mapping requests to unix sockets"),
        _o("http-events", INT, "set the number of concurrent http async events"),
        _o("http-subscription-server", LIST, "enable the subscription server"),
        _o("http-subscription-fallback-key", STR, "key to use for fallback http handler"),
        _o(
            "http-timeout",
            INT,
            "set internal http socket timeout (default: 60 seconds)",
            default=60,
        ),
        _o(
            "http-manage-expect",
            INT,
            "manage the Expect HTTP request header (optionally checking for Content-Length)",
            bare="1",
        ),
        _o("http-keepalive", INT, "HTTP 1.1 keepalive support (non-pipelined) requests", bare="1"),
        _o(
            "http-auto-chunked",
            FLAG,
            "automatically transform output to chunked encoding during HTTP 1.1 keepalive "
            "(if needed)",
        ),
        _o(
            "http-auto-gzip",
            FLAG,
            "automatically gzip content if uWSGI-Encoding header is set to gzip, but content "
            "size (Content-Length/Transfer-Encoding) and Content-Encoding are not specified",
        ),
        _o(
            "http-raw-body",
            FLAG,
            "blindly send HTTP body to backends (required for WebSockets and Icecast support "
            "in backends)",
        ),
        _o(
            "http-websockets",
            FLAG,
            "automatically detect websockets connections and put the session in raw mode",
        ),
        _o(
            "http-chunked-input",
            FLAG,
            "automatically detect chunked input requests and put the session in raw mode",
        ),
        _o(
            "http-use-code-string",
            STR,
            "use code string as hostname->server mapper for the http router",
        ),
        _o("http-use-socket", LIST, "forward request to the specified uwsgi socket", bare=""),
        _o(
            "http-gracetime",
            INT,
            "retry connections to dead static nodes after the specified amount of seconds",
        ),
        _o("http-quiet", FLAG, "do not report failed connections to instances"),
        _o("http-cheap", FLAG, "run the http router in cheap mode"),
        _o(
            "http-stats",
            STR,
            "run the http router stats server",
            aliases=("http-stats-server", "http-ss"),
        ),
        _o("http-harakiri", INT, "enable http router harakiri"),
        _o(
            "http-stud-prefix",
            LIST,
            "expect a stud prefix (1byte family + 4/16 bytes address) on connections from "
            "the specified address",
        ),
        _o("http-uid", STR, "drop http router privileges to the specified uid"),
        _o("http-gid", STR, "drop http router privileges to the specified gid"),
        _o("http-resubscribe", LIST, "forward subscriptions to the specified subscription server"),
        _o("http-buffer-size", INT, "set internal buffer size (default: page size)"),
        _o("http-server-name-as-http-host", FLAG, "force SERVER_NAME to HTTP_HOST"),
        _o("http-headers-timeout", INT, "set internal http socket timeout for headers"),
        _o("http-connect-timeout", INT, "set internal http socket timeout for backend connections"),
        _o(
            "http-manage-source",
            FLAG,
            "manage the SOURCE HTTP method placing the session in raw mode",
        ),
        _o("http-manage-rtsp", FLAG, "manage RTSP sessions"),
        _o("http-enable-proxy-protocol", FLAG, "manage PROXY protocol requests"),
    ),
    *_section(
        "Internal routing",
        "router",
        _o("route", LIST, "add a route"),
        _o("route-host", LIST, "add a route based on Host header"),
        _o("route-uri", LIST, "add a route based on REQUEST_URI"),
        _o("route-qs", LIST, "add a route based on QUERY_STRING"),
        _o("route-remote-addr", LIST, "add a route based on REMOTE_ADDR"),
        _o("route-user-agent", LIST, "add a route based on HTTP_USER_AGENT"),
        _o("route-remote-user", LIST, "add a route based on REMOTE_USER"),
        _o("route-referer", LIST, "add a route based on HTTP_REFERER"),
        _o("route-label", LIST, "add a routing label (for use with goto)"),
        _o("route-if", LIST, "add a route based on condition"),
        _o("route-if-not", LIST, "add a route based on condition (negate version)"),
        _o("route-run", LIST, "always run the specified route action"),
        _o("final-route", LIST, "add a final route"),
        _o("final-route-status", LIST, "add a final route for the specified status"),
        _o("final-route-host", LIST, "add a final route based on Host header"),
        _o("final-route-uri", LIST, "add a final route based on REQUEST_URI"),
        _o("final-route-qs", LIST, "add a final route based on QUERY_STRING"),
        _o("final-route-remote-addr", LIST, "add a final route based on REMOTE_ADDR"),
        _o("final-route-user-agent", LIST, "add a final route based on HTTP_USER_AGENT"),
        _o("final-route-remote-user", LIST, "add a final route based on REMOTE_USER"),
        _o("final-route-referer", LIST, "add a final route based on HTTP_REFERER"),
        _o("final-route-label", LIST, "add a final routing label (for use with goto)"),
        _o("final-route-if", LIST, "add a final route based on condition"),
        _o("final-route-if-not", LIST, "add a final route based on condition (negate version)"),
        _o("final-route-run", LIST, "always run the specified final route action"),
        _o("error-route", LIST, "add an error route"),
        _o("error-route-status", LIST, "add an error route for the specified status"),
        _o("error-route-host", LIST, "add an error route based on Host header"),
        _o("error-route-uri", LIST, "add an error route based on REQUEST_URI"),
        _o("error-route-qs", LIST, "add an error route based on QUERY_STRING"),
        _o("error-route-remote-addr", LIST, "add an error route based on REMOTE_ADDR"),
        _o("error-route-user-agent", LIST, "add an error route based on HTTP_USER_AGENT"),
        _o("error-route-remote-user", LIST, "add an error route based on REMOTE_USER"),
        _o("error-route-referer", LIST, "add an error route based on HTTP_REFERER"),
        _o("error-route-label", LIST, "add an error routing label (for use with goto)"),
        _o("error-route-if", LIST, "add an error route based on condition"),
        _o("error-route-if-not", LIST, "add an error route based on condition (negate version)"),
        _o("error-route-run", LIST, "always run the specified error route action"),
        _o("response-route", LIST, "add a response route"),
        _o("response-route-status", LIST, "add a response route for the specified status"),
        _o("response-route-host", LIST, "add a response route based on Host header"),
        _o("response-route-uri", LIST, "add a response route based on REQUEST_URI"),
        _o("response-route-qs", LIST, "add a response route based on QUERY_STRING"),
        _o("response-route-remote-addr", LIST, "add a response route based on REMOTE_ADDR"),
        _o("response-route-user-agent", LIST, "add a response route based on HTTP_USER_AGENT"),
        _o("response-route-remote-user", LIST, "add a response route based on REMOTE_USER"),
        _o("response-route-referer", LIST, "add a response route based on HTTP_REFERER"),
        _o("response-route-label", LIST, "add a response routing label (for use with goto)"),
        _o("response-route-if", LIST, "add a response route based on condition"),
        _o(
            "response-route-if-not",
            LIST,
            "add a response route based on condition (negate version)",
        ),
        _o("response-route-run", LIST, "always run the specified response route action"),
        _o("router-list", FLAG, "list enabled routers", aliases=("routers-list",)),
        _o("error-page-403", LIST, "add an error page (html) for managed 403 response"),
        _o("error-page-404", LIST, "add an error page (html) for managed 404 response"),
        _o("error-page-500", LIST, "add an error page (html) for managed 500 response"),
        _o("add-header", LIST, "automatically add HTTP headers to response"),
        _o(
            "rem-header",
            LIST,
            "automatically remove specified HTTP header from the response",
            aliases=("del-header",),
        ),
        _o(
            "collect-header",
            LIST,
            "store the specified response header in a request var (syntax: header var)",
            aliases=("response-header-collect",),
        ),
        _o(
            "pull-header",
            LIST,
            "store the specified response header in a request var and remove it from the "
            "response (syntax: header var)",
        ),
        _o("notfound-log", FLAG, "log requests to the notfound plugin"),
    ),
    *_section(
        "Static files and offloading",
        "static",
        _o(
            "check-static",
            LIST,
            "check for static files in the specified directory",
            aliases=("static-check",),
        ),
        _o("check-static-docroot", FLAG, "check for static files in the requested DOCUMENT_ROOT"),
        _o("static-map", LIST, "map mountpoint to static directory (or file)"),
        _o(
            "static-map2",
            LIST,
            "like static-map but completely appending the requested resource to the docroot",
        ),
        _o("static-skip-ext", LIST, "skip specified extension from staticfile checks"),
        _o("static-index", LIST, "search for specified file if a directory is requested"),
        _o("static-safe", LIST, "skip security checks if the file is under the specified path"),
        _o(
            "static-cache-paths",
            INT,
            "put resolved paths in the uWSGI cache for the specified amount of seconds",
        ),
        _o("static-cache-paths-name", STR, "use the specified cache for static paths"),
        _o(
            "mimefile",
            LIST,
            "set mime types file path (default /etc/apache2/mime.types)",
            aliases=("mime-file",),
        ),
        _o("static-expires-type", LIST, "set the Expires header based on content type"),
        _o(
            "static-expires-type-mtime",
            LIST,
            "set the Expires header based on content type and file mtime",
        ),
        _o("static-expires", LIST, "set the Expires header based on filename regexp"),
        _o(
            "static-expires-mtime",
            LIST,
            "set the Expires header based on filename regexp and file mtime",
        ),
        _o("static-expires-uri", LIST, "set the Expires header based on REQUEST_URI regexp"),
        _o(
            "static-expires-uri-mtime",
            LIST,
            "set the Expires header based on REQUEST_URI regexp and file mtime",
        ),
        _o("static-expires-path-info", LIST, "set the Expires header based on PATH_INFO regexp"),
        _o(
            "static-expires-path-info-mtime",
            LIST,
            "set the Expires header based on PATH_INFO regexp and file mtime",
        ),
        _o(
            "static-gzip",
            LIST,
            "if the supplied regexp matches the static file translation it will search for a "
            "gzip version",
        ),
        _o("static-gzip-all", FLAG, "check for a gzip version of all requested static files"),
        _o(
            "static-gzip-dir",
            LIST,
            "check for a gzip version of all requested static files in the specified dir/prefix",
            aliases=("static-gzip-prefix",),
        ),
        _o(
            "static-gzip-ext",
            LIST,
            "check for a gzip version of all requested static files with the specified ext/suffix",
            aliases=("static-gzip-suffix",),
        ),
        _o("honour-range", FLAG, "enable support for the HTTP Range header"),
        _o(
            "offload-threads",
            INT,
            "set the number of offload threads to spawn (per-worker, default 0)",
            aliases=("offload-thread",),
            default=0,
        ),
        _o("file-serve-mode", STR, "set static file serving mode", aliases=("fileserve-mode",)),
        _o("disable-sendfile", FLAG, "disable sendfile() and rely on boring read()/write()"),
    ),
    *_section(
        "Cache",
        "cache",
        _o("cache", INT, "create a shared cache containing given elements"),
        _o("cache-blocksize", INT, "set cache blocksize"),
        _o("cache-store", STR, "enable persistent cache to disk"),
        _o("cache-store-sync", INT, "set frequency of sync for persistent cache"),
        _o("cache-no-expire", FLAG, "disable auto sweep of expired items"),
        _o(
            "cache-expire-freq",
            INT,
            "set the frequency of cache sweeper scans (default 3 seconds)",
            default=3,
        ),
        _o(
            "cache-report-freed-items",
            FLAG,
            "constantly report the cache item freed by the sweeper (use only for debug)",
        ),
        _o(
            "cache-udp-server",
            LIST,
            "bind the cache udp server (used only for set/update/delete) to the specified socket",
        ),
        _o("cache-udp-node", LIST, "send cache update/deletion to the specified cache udp server"),
        _o(
            "cache-sync",
            STR,
            "copy the whole content of another uWSGI cache server on server startup",
        ),
        _o(
            "cache-use-last-modified",
            FLAG,
            "update last_modified_at timestamp on every cache item modification (default is "
            "disabled)",
        ),
        _o("add-cache-item", LIST, "add an item in the cache"),
        _o("load-file-in-cache", LIST, "load a static file in the cache"),
        _o(
            "load-file-in-cache-gzip", LIST, "load a static file in the cache with gzip compression"
        ),
        _o("cache2", LIST, "create a new generation shared cache (keyval syntax)"),
        _o(
            "check-cache",
            STR,
            "check for response data in the specified cache (empty for default cache)",
            bare="",
        ),
    ),
    *_section(
        "Spooler",
        "spooler",
        _o("spooler", LIST, "run a spooler on the specified directory", short="Q"),
        _o(
            "spooler-external",
            LIST,
            "map spoolers requests to a spooler directory managed by an external instance",
        ),
        _o("spooler-ordered", FLAG, "try to order the execution of spooler tasks"),
        _o("spooler-chdir", STR, "chdir() to specified directory before each spooler task"),
        _o("spooler-processes", INT, "set the number of processes for spoolers"),
        _o("spooler-quiet", FLAG, "do not be verbose with spooler tasks"),
        _o(
            "spooler-max-tasks",
            INT,
            "set the maximum number of tasks to run before recycling a spooler",
        ),
        _o("spooler-harakiri", INT, "set harakiri timeout for spooler tasks"),
        _o(
            "spooler-frequency", INT, "set spooler frequency", aliases=("spooler-freq",), default=30
        ),
    ),
    *_section(
        "Mules and farms",
        "mule",
        _o("mule-harakiri", INT, "set harakiri timeout for mule tasks"),
        _o(
            "mule-reload-mercy",
            INT,
            "set the maximum time (in seconds) a mule can take to reload/shutdown (default is 60)",
            default=60,
        ),
        _o("mule", LIST, "add a mule", bare=""),
        _o("mules", LIST, "add the specified number of mules"),
        _o("farm", LIST, "add a mule farm"),
        _o("mule-msg-size", INT, "set mule message buffer size", bare="1"),
    ),
    *_section(
        "Signals, timers and cron",
        "signal",
        _o("signal", LIST, "send a uwsgi signal to a server"),
        _o("signal-bufsize", INT, "set buffer size for signal queue", aliases=("signals-bufsize",)),
        _o("signal-timer", LIST, "add a timer (syntax: <signal> <seconds>)", aliases=("timer",)),
        _o(
            "signal-rbtimer",
            LIST,
            "add a redblack timer (syntax: <signal> <seconds>)",
            aliases=("rbtimer",),
        ),
        _o(
            "touch-signal",
            LIST,
            "signal when the specified file is modified/touched (syntax: file signal)",
        ),
        _o(
            "fs-signal",
            LIST,
            "raise a uwsgi signal when the specified filesystem object is modified (syntax: "
            "file signal)",
        ),
        _o("cron", LIST, "add a cron task"),
        _o("cron2", LIST, "add a cron task (key=val syntax)"),
        _o("unique-cron", LIST, "add a unique cron task"),
        _o(
            "cron-harakiri",
            INT,
            "set the maximum time (in seconds) we wait for cron command to complete",
        ),
        _o(
            "legion-cron",
            LIST,
            "add a cron task runnable only when the instance is a lord of the specified legion",
            aliases=("cron-legion",),
        ),
        _o(
            "unique-legion-cron",
            LIST,
            "add a unique cron task runnable only when the instance is a lord of the "
            "specified legion",
            aliases=("unique-cron-legion",),
        ),
    ),
    *_section(
        "RPC",
        "rpc",
        _o("rpc-max", INT, "maximum number of rpc slots (default: 64)", default=64),
        _o(
            "rpc-grpc",
            STR,
            "polyhost: serve every RPC function to gRPC clients on ADDR (rpc/polyhost_rpc.proto)",
            metavar="ADDR",
        ),
        _o(
            "rpc-nodes",
            LIST,
            "polyhost: name a group of nodes (GROUP=ADDR[,ADDR...]): uwsgi.rpc('group:GROUP', ...)"
            " calls one of them (round robin, an unreachable node skipped) and"
            " uwsgi.signal(N, 'group:GROUP') raises N on every one",
            metavar="GROUP=ADDR[,ADDR...]",
        ),
    ),
    *_section(
        "Cheaper (adaptive workers)",
        "cheaper",
        _o("cheap", FLAG, "set cheap mode (spawn workers only after the first request)"),
        _o("cheaper", INT, "set cheaper mode (adaptive process spawning)"),
        _o("cheaper-initial", INT, "set the initial number of processes to spawn in cheaper mode"),
        _o("cheaper-algo", STR, "choose to algorithm used for adaptive process spawning"),
        _o(
            "cheaper-step",
            INT,
            "number of additional processes to spawn at each overload",
            default=1,
        ),
        _o("cheaper-overload", INT, "increase workers after specified overload", default=3),
        _o(
            "cheaper-idle",
            INT,
            "decrease workers after specified idle (algo: spare2) (default: 10)",
            default=10,
        ),
        _o(
            "cheaper-algo-list",
            FLAG,
            "list enabled cheapers algorithms",
            aliases=("cheaper-algos-list", "cheaper-list"),
        ),
        _o(
            "cheaper-rss-limit-soft",
            INT,
            "don't spawn new workers if total resident memory usage of all workers is higher "
            "than this limit",
        ),
        _o(
            "cheaper-rss-limit-hard",
            INT,
            "if total workers resident memory usage is higher try to stop workers",
        ),
        _o("idle", INT, "set idle mode (put uWSGI in cheap mode after inactivity)"),
        _o("die-on-idle", FLAG, "shutdown uWSGI when idle"),
        _o(
            "cheaper-busyness-max",
            INT,
            "set the cheaper busyness high percent limit, above that value worker is "
            "considered loaded (default 50)",
            default=50,
        ),
        _o(
            "cheaper-busyness-min",
            INT,
            "set the cheaper busyness low percent limit, below that value worker is "
            "considered idle (default 25)",
            default=25,
        ),
        _o(
            "cheaper-busyness-multiplier",
            INT,
            "set initial cheaper multiplier, worker needs to be idle for "
            "cheaper-overload*multiplier seconds to be cheaped (default 10)",
            default=10,
        ),
        _o(
            "cheaper-busyness-penalty",
            INT,
            "penalty for respawning workers to fast, it will be added to the current "
            "multiplier value if worker is cheaped and than respawned back too fast (default 2)",
            default=2,
        ),
        _o("cheaper-busyness-verbose", FLAG, "enable verbose log messages from busyness algorithm"),
        _o(
            "cheaper-busyness-backlog-alert",
            INT,
            "spawn emergency worker(s) if any time listen queue is higher than this value "
            "(default 33)",
            default=33,
        ),
        _o(
            "cheaper-busyness-backlog-multiplier",
            INT,
            "set cheaper multiplier used for emergency workers (default 3)",
            default=3,
        ),
        _o(
            "cheaper-busyness-backlog-step",
            INT,
            "number of emergency workers to spawn at a time (default 1)",
            default=1,
        ),
        _o(
            "cheaper-busyness-backlog-nonzero",
            INT,
            "spawn emergency worker(s) if backlog is > 0 for more then N seconds (default 60)",
            default=60,
        ),
    ),
    *_section(
        "Emperor",
        "emperor",
        _o("emperor", LIST, "run the Emperor"),
        _o("emperor-proxy-socket", STR, "force the vassal to became an Emperor proxy"),
        _o("emperor-wrapper", STR, "set a binary wrapper for vassals"),
        _o(
            "emperor-wrapper-override",
            LIST,
            "set a binary wrapper for vassals to try before the default one",
        ),
        _o(
            "emperor-wrapper-fallback",
            LIST,
            "set a binary wrapper for vassals to try as a last resort",
        ),
        _o("emperor-nofollow", FLAG, "do not follow symlinks when checking for mtime"),
        _o("emperor-procname", STR, "set the Emperor process name"),
        _o("emperor-freq", INT, "set the Emperor scan frequency (default 3 seconds)", default=3),
        _o(
            "emperor-required-heartbeat",
            INT,
            "set the Emperor tolerance about heartbeats",
            default=30,
        ),
        _o("emperor-curse-tolerance", INT, "set the Emperor tolerance about cursed vassals"),
        _o("emperor-pidfile", STR, "write the Emperor pid in the specified file"),
        _o("emperor-tyrant", FLAG, "put the Emperor in Tyrant mode"),
        _o(
            "emperor-tyrant-nofollow",
            FLAG,
            "do not follow symlinks when checking for uid/gid in Tyrant mode",
        ),
        _o(
            "emperor-tyrant-initgroups",
            FLAG,
            "add additional groups set via initgroups() in Tyrant mode",
        ),
        _o("emperor-stats", STR, "run the Emperor stats server", aliases=("emperor-stats-server",)),
        _o("early-emperor", FLAG, "spawn the emperor as soon as possibile"),
        _o("emperor-broodlord", INT, "run the emperor in BroodLord mode"),
        _o(
            "emperor-throttle",
            INT,
            "set throttling level (in milliseconds) for bad behaving vassals (default 1000)",
            default=1000,
        ),
        _o(
            "emperor-max-throttle",
            INT,
            "set max throttling level (in milliseconds) for bad behaving vassals (default 3 "
            "minutes)",
            default=180000,
        ),
        _o(
            "emperor-magic-exec",
            FLAG,
            "prefix vassals config files with exec:// if they have the executable bit",
        ),
        _o(
            "emperor-on-demand-extension",
            STR,
            "search for text file (vassal name + extension) containing the on demand socket name",
            aliases=("emperor-on-demand-ext",),
        ),
        _o(
            "emperor-on-demand-directory",
            STR,
            "enable on demand mode binding to the unix socket in the specified directory "
            "named like the vassal + .socket",
            aliases=("emperor-on-demand-dir",),
        ),
        _o(
            "emperor-on-demand-exec",
            STR,
            "use the output of the specified command as on demand socket name (the vassal "
            "name is passed as the only argument)",
        ),
        _o(
            "emperor-extra-extension",
            LIST,
            "allows the specified extension in the Emperor (vassal will be called with --config)",
            aliases=("emperor-extra-ext",),
        ),
        _o("emperor-no-blacklist", FLAG, "disable Emperor blacklisting subsystem"),
        _o(
            "emperor-use-clone",
            STR,
            "use clone() instead of fork() passing the specified unshare() flags",
        ),
        _o("emperor-graceful-shutdown", FLAG, "use vassals graceful shutdown during ragnarok"),
        _o("emperor-cap", STR, "set vassals capability", aliases=("vassals-cap", "vassal-cap")),
        _o(
            "imperial-monitor-list",
            FLAG,
            "list enabled imperial monitors",
            aliases=("imperial-monitors-list",),
        ),
        _o("vassals-inherit", LIST, "add config templates to vassals config (uses --inherit)"),
        _o(
            "vassals-include",
            LIST,
            "include config templates to vassals config (uses --include instead of --inherit)",
        ),
        _o(
            "vassals-inherit-before",
            LIST,
            "add config templates to vassals config (uses --inherit, parses before the "
            "vassal file)",
        ),
        _o(
            "vassals-include-before",
            LIST,
            "include config templates to vassals config (uses --include instead of "
            "--inherit, parses before the vassal file)",
        ),
        _o("vassals-start-hook", STR, "run the specified command before each vassal starts"),
        _o("vassals-stop-hook", STR, "run the specified command after vassal's death"),
        _o("vassal-sos", INT, "ask emperor for reinforcement when overloaded"),
        _o(
            "vassal-sos-backlog",
            INT,
            "ask emperor for sos if backlog queue has more items than the value specified",
            default=10,
        ),
        _o(
            "vassals-set",
            LIST,
            "automatically set the specified option (via --set) for every vassal",
            aliases=("vassal-set",),
        ),
        _o("heartbeat", INT, "announce healthiness to the emperor"),
    ),
    *_section(
        "Subscriptions",
        "subscription",
        _o("subscription-notify-socket", STR, "set the notification socket for subscriptions"),
        _o(
            "subscriptions-sign-check",
            STR,
            "set digest algorithm and certificate directory for secured subscription system",
        ),
        _o(
            "subscriptions-sign-check-tolerance",
            INT,
            "set the maximum tolerance (in seconds) of clock skew for secured subscription system",
        ),
        _o(
            "subscriptions-sign-skip-uid",
            LIST,
            "skip signature check for the specified uid when using unix sockets credentials",
        ),
        _o(
            "subscriptions-credentials-check",
            LIST,
            "add a directory to search for subscriptions key credentials",
        ),
        _o(
            "subscriptions-use-credentials",
            FLAG,
            "enable management of SCM_CREDENTIALS in subscriptions UNIX sockets",
        ),
        _o("subscription-algo", STR, "set load balancing algorithm for the subscription system"),
        _o(
            "subscription-dotsplit",
            FLAG,
            "try to fallback to the next part (dot based) in subscription key",
        ),
        _o(
            "subscribe-to",
            LIST,
            "subscribe to the specified subscription server",
            aliases=("st", "subscribe"),
        ),
        _o(
            "subscribe2",
            LIST,
            "subscribe to the specified subscription server using advanced keyval syntax",
        ),
        _o("subscribe-freq", INT, "send subscription announce at the specified interval"),
        _o("subscription-tolerance", INT, "set tolerance for subscription servers"),
        _o(
            "unsubscribe-on-graceful-reload",
            FLAG,
            "force unsubscribe request even during graceful reload",
        ),
        _o(
            "start-unsubscribed",
            FLAG,
            "configure subscriptions but do not send them (useful with master fifo)",
        ),
        _o("subscribe-with-modifier1", STR, "force the specififed modifier1 when subscribing"),
    ),
    *_section(
        "Legion",
        "legion",
        _o("legion", LIST, "became a member of a legion"),
        _o("legion-mcast", LIST, "became a member of a legion (shortcut for multicast)"),
        _o("legion-node", LIST, "add a node to a legion"),
        _o("legion-freq", INT, "set the frequency of legion packets"),
        _o("legion-tolerance", INT, "set the tolerance of legion subsystem"),
        _o(
            "legion-death-on-lord-error",
            INT,
            "declare itself as a dead node for the specified amount of seconds if one of the "
            "lord hooks fails",
        ),
        _o(
            "legion-skew-tolerance",
            INT,
            "set the clock skew tolerance of legion subsystem (default 30 seconds)",
            default=30,
        ),
        _o("legion-lord", LIST, "action to call on Lord election"),
        _o("legion-unlord", LIST, "action to call on Lord dismiss"),
        _o("legion-setup", LIST, "action to call on legion setup"),
        _o("legion-death", LIST, "action to call on legion death (shutdown of the instance)"),
        _o("legion-join", LIST, "action to call on legion join (first time quorum is reached)"),
        _o("legion-node-joined", LIST, "action to call on new node joining legion"),
        _o("legion-node-left", LIST, "action to call node leaving legion"),
        _o("legion-quorum", LIST, "set the quorum of a legion"),
        _o("legion-scroll", LIST, "set the scroll of a legion"),
        _o("legion-scroll-max-size", INT, "set max size of legion scroll buffer"),
        _o("legion-scroll-list-max-size", INT, "set max size of legion scroll list buffer"),
        _o(
            "legion-attach-daemon",
            LIST,
            "same as --attach-daemon but daemon runs only on legion lord node",
        ),
        _o(
            "legion-smart-attach-daemon",
            LIST,
            "same as --smart-attach-daemon but daemon runs only on legion lord node",
        ),
        _o(
            "legion-smart-attach-daemon2",
            LIST,
            "same as --smart-attach-daemon2 but daemon runs only on legion lord node",
        ),
    ),
    *_section(
        "Zerg",
        "zerg",
        _o("zerg", LIST, "attach to a zerg server"),
        _o("zerg-fallback", FLAG, "fallback to normal sockets if the zerg server is not available"),
        _o("zerg-server", STR, "enable the zerg server on the specified UNIX socket"),
        _o(
            "zergpool",
            LIST,
            "start a zergpool on specified address for specified address",
            aliases=("zerg-pool",),
        ),
    ),
    *_section(
        "Gateways (fastrouter, rawrouter, sslrouter)",
        "gateway",
        _o("fastrouter", LIST, "run the fastrouter on the specified port"),
        _o(
            "fastrouter-processes",
            INT,
            "prefork the specified number of fastrouter processes",
            aliases=("fastrouter-workers",),
        ),
        _o("fastrouter-zerg", LIST, "attach the fastrouter to a zerg server"),
        _o(
            "fastrouter-use-cache",
            STR,
            "use uWSGI cache as hostname->server mapper for the fastrouter",
            bare="",
        ),
        _o("fastrouter-use-pattern", STR, "use a pattern for fastrouter hostname->server mapping"),
        _o("fastrouter-use-base", STR, "use a base dir for fastrouter hostname->server mapping"),
        _o("fastrouter-fallback", LIST, "fallback to the specified node in case of error"),
        _o(
            "fastrouter-use-code-string",
            STR,
            "use code string as hostname->server mapper for the fastrouter",
        ),
        _o("fastrouter-use-socket", LIST, "forward request to the specified uwsgi socket", bare=""),
        _o(
            "fastrouter-to",
            LIST,
            "forward requests to the specified uwsgi server (you can specify it multiple "
            "times for load balancing)",
        ),
        _o(
            "fastrouter-gracetime",
            INT,
            "retry connections to dead static nodes after the specified amount of seconds",
        ),
        _o("fastrouter-events", INT, "set the maximum number of concurrent events"),
        _o("fastrouter-quiet", FLAG, "do not report failed connections to instances"),
        _o("fastrouter-cheap", FLAG, "run the fastrouter in cheap mode"),
        _o(
            "fastrouter-subscription-server",
            LIST,
            "run the fastrouter subscription server on the specified address",
        ),
        _o("fastrouter-subscription-slot", STR, "*** deprecated ***"),
        _o("fastrouter-timeout", INT, "set fastrouter timeout"),
        _o("fastrouter-post-buffering", INT, "enable fastrouter post buffering"),
        _o(
            "fastrouter-post-buffering-dir",
            STR,
            "put fastrouter buffered files to the specified directory (noop, use TMPDIR env)",
        ),
        _o(
            "fastrouter-stats",
            STR,
            "run the fastrouter stats server",
            aliases=("fastrouter-stats-server", "fastrouter-ss"),
        ),
        _o("fastrouter-harakiri", INT, "enable fastrouter harakiri"),
        _o("fastrouter-uid", STR, "drop fastrouter privileges to the specified uid"),
        _o("fastrouter-gid", STR, "drop fastrouter privileges to the specified gid"),
        _o(
            "fastrouter-resubscribe",
            LIST,
            "forward subscriptions to the specified subscription server",
        ),
        _o("fastrouter-resubscribe-bind", STR, "bind to the specified address when re-subscribing"),
        _o("fastrouter-buffer-size", INT, "set internal buffer size (default: page size)"),
        _o(
            "fastrouter-fallback-on-no-key",
            FLAG,
            "move to fallback node even if a subscription key is not found",
        ),
        _o("fastrouter-subscription-fallback-key", STR, "key to use for fallback fastrouter"),
        _o("rawrouter", LIST, "run the rawrouter on the specified port"),
        _o(
            "rawrouter-processes",
            INT,
            "prefork the specified number of rawrouter processes",
            aliases=("rawrouter-workers",),
        ),
        _o("rawrouter-zerg", LIST, "attach the rawrouter to a zerg server"),
        _o(
            "rawrouter-use-cache",
            STR,
            "use uWSGI cache as hostname->server mapper for the rawrouter",
            bare="",
        ),
        _o("rawrouter-use-pattern", STR, "use a pattern for rawrouter hostname->server mapping"),
        _o("rawrouter-use-base", STR, "use a base dir for rawrouter hostname->server mapping"),
        _o("rawrouter-fallback", LIST, "fallback to the specified node in case of error"),
        _o(
            "rawrouter-use-code-string",
            STR,
            "use code string as hostname->server mapper for the rawrouter",
        ),
        _o("rawrouter-use-socket", LIST, "forward request to the specified uwsgi socket", bare=""),
        _o(
            "rawrouter-to",
            LIST,
            "forward requests to the specified uwsgi server (you can specify it multiple "
            "times for load balancing)",
        ),
        _o(
            "rawrouter-gracetime",
            INT,
            "retry connections to dead static nodes after the specified amount of seconds",
        ),
        _o("rawrouter-events", INT, "set the maximum number of concurrent events"),
        _o(
            "rawrouter-max-retries",
            INT,
            "set the maximum number of retries/fallbacks to other nodes",
        ),
        _o("rawrouter-quiet", FLAG, "do not report failed connections to instances"),
        _o("rawrouter-cheap", FLAG, "run the rawrouter in cheap mode"),
        _o(
            "rawrouter-subscription-server",
            LIST,
            "run the rawrouter subscription server on the spcified address",
        ),
        _o("rawrouter-subscription-slot", STR, "*** deprecated ***"),
        _o("rawrouter-timeout", INT, "set rawrouter timeout"),
        _o(
            "rawrouter-stats",
            STR,
            "run the rawrouter stats server",
            aliases=("rawrouter-stats-server", "rawrouter-ss"),
        ),
        _o("rawrouter-harakiri", INT, "enable rawrouter harakiri"),
        _o("rawrouter-xclient", FLAG, "use the xclient protocol to pass the client addres"),
        _o("rawrouter-buffer-size", INT, "set internal buffer size (default: page size)"),
        _o("sslrouter", LIST, "run the sslrouter on the specified port"),
        _o("sslrouter2", LIST, "run the sslrouter on the specified port (key-value based)"),
        _o("sslrouter-session-context", STR, "set the session id context to the specified value"),
        _o(
            "sslrouter-processes",
            INT,
            "prefork the specified number of sslrouter processes",
            aliases=("sslrouter-workers",),
        ),
        _o("sslrouter-zerg", LIST, "attach the sslrouter to a zerg server"),
        _o(
            "sslrouter-use-cache",
            STR,
            "use uWSGI cache as hostname->server mapper for the sslrouter",
            bare="",
        ),
        _o("sslrouter-use-pattern", STR, "use a pattern for sslrouter hostname->server mapping"),
        _o("sslrouter-use-base", STR, "use a base dir for sslrouter hostname->server mapping"),
        _o("sslrouter-fallback", LIST, "fallback to the specified node in case of error"),
        _o(
            "sslrouter-use-code-string",
            STR,
            "use code string as hostname->server mapper for the sslrouter",
        ),
        _o("sslrouter-use-socket", LIST, "forward request to the specified uwsgi socket", bare=""),
        _o(
            "sslrouter-to",
            LIST,
            "forward requests to the specified uwsgi server (you can specify it multiple "
            "times for load balancing)",
        ),
        _o(
            "sslrouter-gracetime",
            INT,
            "retry connections to dead static nodes after the specified amount of seconds",
        ),
        _o("sslrouter-events", INT, "set the maximum number of concurrent events"),
        _o(
            "sslrouter-max-retries",
            INT,
            "set the maximum number of retries/fallbacks to other nodes",
        ),
        _o("sslrouter-quiet", FLAG, "do not report failed connections to instances"),
        _o("sslrouter-cheap", FLAG, "run the sslrouter in cheap mode"),
        _o(
            "sslrouter-subscription-server",
            LIST,
            "run the sslrouter subscription server on the spcified address",
        ),
        _o("sslrouter-timeout", INT, "set sslrouter timeout"),
        _o(
            "sslrouter-stats",
            STR,
            "run the sslrouter stats server",
            aliases=("sslrouter-stats-server", "sslrouter-ss"),
        ),
        _o("sslrouter-harakiri", INT, "enable sslrouter harakiri"),
        _o("sslrouter-sni", FLAG, "use SNI to route requests"),
        _o("sslrouter-buffer-size", INT, "set internal buffer size (default: page size)"),
    ),
    *_section(
        "Async and loop engines",
        "async",
        _o("async", INT, "enable async mode with specified cores"),
        _o("loop", STR, "select the uWSGI loop engine"),
        _o("loop-list", FLAG, "list enabled loop engines", aliases=("loops-list",)),
        _o(
            "asyncio",
            INT,
            "a shortcut enabling asyncio loop engine with the specified number of async "
            "cores and optimal parameters",
        ),
        _o(
            "coroae",
            INT,
            "a shortcut enabling Coro::AnyEvent loop engine with the specified number of "
            "async cores and optimal parameters",
        ),
        _o(
            "gevent",
            INT,
            "a shortcut enabling gevent loop engine with the specified number of async cores "
            "and optimal parameters",
        ),
        _o("gevent-monkey-patch", FLAG, "call gevent.monkey.patch_all() automatically on startup"),
        _o(
            "gevent-early-monkey-patch",
            FLAG,
            "call gevent.monkey.patch_all() automatically before app loading",
        ),
        _o(
            "gevent-wait-for-hub",
            FLAG,
            "wait for gevent hub's death instead of the control greenlet",
        ),
        _o("greenlet", FLAG, "enable greenlet as suspend engine"),
        _o(
            "tornado",
            INT,
            "a shortcut enabling tornado loop engine with the specified number of async "
            "cores and optimal parameters",
        ),
        _o("ugreen", FLAG, "enable ugreen coroutine subsystem"),
        _o("ugreen-stacksize", INT, "set ugreen stack size in pages"),
    ),
    *_section(
        "WebSockets and chunked input",
        "core",
        _o(
            "websockets-ping-freq",
            INT,
            "set the frequency (in seconds) of websockets automatic ping packets",
            aliases=("websocket-ping-freq",),
        ),
        _o(
            "websockets-pong-tolerance",
            INT,
            "set the tolerance (in seconds) of websockets ping/pong subsystem",
            aliases=("websocket-pong-tolerance",),
        ),
        _o(
            "websockets-max-size",
            INT,
            "set the max allowed size of websocket messages (in Kbytes, default 1024)",
            aliases=("websocket-max-size",),
            default=1024,
        ),
        _o(
            "chunked-input-limit",
            INT,
            "set the max size of a chunked input part (default 1MB, in bytes)",
            default=1048576,
        ),
        _o("chunked-input-timeout", INT, "set default timeout for chunked input"),
    ),
    *_section(
        "Queue and sharedarea",
        "core",
        _o(
            "sharedarea",
            LIST,
            "create a raw shared memory area of specified pages (note: it supports keyval too)",
            short="A",
        ),
        _o("queue", INT, "enable shared queue"),
        _o("queue-blocksize", INT, "set queue blocksize"),
        _o("queue-store", STR, "enable persistent queue to disk"),
        _o("queue-store-sync", INT, "set frequency of sync for persistent queue"),
    ),
    *_section(
        "Locks",
        "core",
        _o("locks", INT, "create the specified number of shared locks"),
        _o("lock-engine", STR, "set the lock engine"),
        _o("ftok", STR, "set the ipcsem key via ftok() for avoiding duplicates"),
        _o("persistent-ipcsem", FLAG, "do not remove ipcsem's on shutdown"),
    ),
    *_section(
        "External daemons",
        "core",
        _o(
            "attach-daemon",
            LIST,
            "attach a command/daemon to the master process (the command has to not go in "
            "background)",
        ),
        _o(
            "attach-control-daemon",
            LIST,
            "attach a command/daemon to the master process (the command has to not go in "
            "background), when the daemon dies, the master dies too",
        ),
        _o(
            "smart-attach-daemon",
            LIST,
            "attach a command/daemon to the master process managed by a pidfile (the command "
            "has to daemonize)",
        ),
        _o(
            "smart-attach-daemon2",
            LIST,
            "attach a command/daemon to the master process managed by a pidfile (the command "
            "has to NOT daemonize)",
        ),
        _o(
            "daemons-honour-stdin", FLAG, "do not change the stdin of external daemons to /dev/null"
        ),
        _o("attach-daemon2", LIST, "attach-daemon keyval variant (supports smart modes too)"),
    ),
    *_section(
        "Hooks",
        "hooks",
        _o("hook-asap", LIST, "run the specified hook as soon as possible"),
        _o("hook-pre-jail", LIST, "run the specified hook before jailing"),
        _o("hook-post-jail", LIST, "run the specified hook after jailing"),
        _o("hook-in-jail", LIST, "run the specified hook in jail after initialization"),
        _o("hook-as-root", LIST, "run the specified hook before privileges drop"),
        _o("hook-as-user", LIST, "run the specified hook after privileges drop"),
        _o("hook-as-user-atexit", LIST, "run the specified hook before app exit and reload"),
        _o("hook-pre-app", LIST, "run the specified hook before app loading"),
        _o("hook-post-app", LIST, "run the specified hook after app loading"),
        _o("hook-post-fork", LIST, "run the specified hook after each fork"),
        _o(
            "hook-accepting",
            LIST,
            "run the specified hook after each worker enter the accepting phase",
        ),
        _o(
            "hook-accepting1",
            LIST,
            "run the specified hook after the first worker enters the accepting phase",
        ),
        _o(
            "hook-accepting-once",
            LIST,
            "run the specified hook after each worker enter the accepting phase (once "
            "per-instance)",
        ),
        _o(
            "hook-accepting1-once",
            LIST,
            "run the specified hook after the first worker enters the accepting phase (once "
            "per instance)",
        ),
        _o("hook-master-start", LIST, "run the specified hook when the Master starts"),
        _o(
            "hook-touch",
            LIST,
            "run the specified hook when the specified file is touched (syntax: <file> <action>)",
        ),
        _o("hook-emperor-start", LIST, "run the specified hook when the Emperor starts"),
        _o(
            "hook-emperor-stop", LIST, "run the specified hook when the Emperor send a stop message"
        ),
        _o(
            "hook-emperor-reload",
            LIST,
            "run the specified hook when the Emperor send a reload message",
        ),
        _o("hook-emperor-lost", LIST, "run the specified hook when the Emperor connection is lost"),
        _o("hook-as-vassal", LIST, "run the specified hook before exec()ing the vassal"),
        _o(
            "hook-as-emperor",
            LIST,
            "run the specified hook in the emperor after the vassal has been started",
        ),
        _o("hook-as-mule", LIST, "run the specified hook in each mule"),
        _o("hook-as-gateway", LIST, "run the specified hook in each gateway"),
        _o(
            "after-request-hook",
            LIST,
            "run the specified function/symbol after each request",
            aliases=("after-request-call",),
        ),
        _o("exec-asap", LIST, "run the specified command as soon as possible"),
        _o("exec-pre-jail", LIST, "run the specified command before jailing"),
        _o("exec-post-jail", LIST, "run the specified command after jailing"),
        _o("exec-in-jail", LIST, "run the specified command in jail after initialization"),
        _o("exec-as-root", LIST, "run the specified command before privileges drop"),
        _o("exec-as-user", LIST, "run the specified command after privileges drop"),
        _o("exec-as-user-atexit", LIST, "run the specified command before app exit and reload"),
        _o("exec-pre-app", LIST, "run the specified command before app loading"),
        _o("exec-post-app", LIST, "run the specified command after app loading"),
        _o("exec-as-vassal", LIST, "run the specified command before exec()ing the vassal"),
        _o(
            "exec-as-emperor",
            LIST,
            "run the specified command in the emperor after the vassal has been started",
        ),
        _o("mount-asap", LIST, "mount filesystem as soon as possible"),
        _o("mount-pre-jail", LIST, "mount filesystem before jailing"),
        _o("mount-post-jail", LIST, "mount filesystem after jailing"),
        _o("mount-in-jail", LIST, "mount filesystem in jail after initialization"),
        _o("mount-as-root", LIST, "mount filesystem before privileges drop"),
        _o("mount-as-vassal", LIST, "mount filesystem before exec()ing the vassal"),
        _o(
            "mount-as-emperor",
            LIST,
            "mount filesystem in the emperor after the vassal has been started",
        ),
        _o("umount-asap", LIST, "unmount filesystem as soon as possible"),
        _o("umount-pre-jail", LIST, "unmount filesystem before jailing"),
        _o("umount-post-jail", LIST, "unmount filesystem after jailing"),
        _o("umount-in-jail", LIST, "unmount filesystem in jail after initialization"),
        _o("umount-as-root", LIST, "unmount filesystem before privileges drop"),
        _o("umount-as-vassal", LIST, "unmount filesystem before exec()ing the vassal"),
        _o(
            "umount-as-emperor",
            LIST,
            "unmount filesystem in the emperor after the vassal has been started",
        ),
        _o(
            "wait-for-interface",
            LIST,
            "wait for the specified network interface to come up before running root hooks",
            aliases=("wait-interface", "wait-for-iface", "wait-iface"),
        ),
        _o(
            "wait-for-interface-timeout",
            INT,
            "set the timeout for wait-for-interface",
            aliases=("wait-interface-timeout", "wait-for-iface-timeout", "wait-iface-timeout"),
        ),
        _o(
            "wait-for-fs",
            LIST,
            "wait for the specified filesystem item to appear before running root hooks",
            aliases=("wait-for-file", "wait-for-dir"),
        ),
        _o(
            "wait-for-mountpoint",
            LIST,
            "wait for the specified mountpoint to appear before running root hooks",
        ),
        _o("wait-for-fs-timeout", INT, "set the timeout for wait-for-fs/file/dir"),
        _o(
            "wait-for-socket", LIST, "wait for the specified socket to be ready before loading apps"
        ),
        _o("wait-for-socket-timeout", INT, "set the timeout for wait-for-socket"),
        _o("call-asap", LIST, "call the specified function as soon as possible"),
        _o("call-pre-jail", LIST, "call the specified function before jailing"),
        _o("call-post-jail", LIST, "call the specified function after jailing"),
        _o("call-in-jail", LIST, "call the specified function in jail after initialization"),
        _o("call-as-root", LIST, "call the specified function before privileges drop"),
        _o("call-as-user", LIST, "call the specified function after privileges drop"),
        _o("call-as-user-atexit", LIST, "call the specified function before app exit and reload"),
        _o("call-pre-app", LIST, "call the specified function before app loading"),
        _o("call-post-app", LIST, "call the specified function after app loading"),
        _o("call-as-vassal", LIST, "call the specified function() before exec()ing the vassal"),
        _o(
            "call-as-vassal1",
            LIST,
            "call the specified function(char *) before exec()ing the vassal",
        ),
        _o(
            "call-as-vassal3",
            LIST,
            "call the specified function(char *, uid_t, gid_t) before exec()ing the vassal",
        ),
        _o(
            "call-as-emperor",
            LIST,
            "call the specified function() in the emperor after the vassal has been started",
        ),
        _o(
            "call-as-emperor1",
            LIST,
            "call the specified function(char *) in the emperor after the vassal has been started",
        ),
        _o(
            "call-as-emperor2",
            LIST,
            "call the specified function(char *, pid_t) in the emperor after the vassal has "
            "been started",
        ),
        _o(
            "call-as-emperor4",
            LIST,
            "call the specified function(char *, pid_t, uid_t, gid_t) in the emperor after "
            "the vassal has been started",
        ),
    ),
    *_section(
        "Jails and namespaces",
        "security",
        _o("chroot", STR, "chroot() to the specified directory"),
        _o(
            "pivot-root",
            STR,
            "pivot_root() to the specified directories (new_root and put_old must be "
            "separated with a space)",
            aliases=("pivot_root",),
        ),
        _o("add-gid", LIST, "add the specified group id to the process credentials"),
        _o("immediate-uid", STR, "setuid to the specified user/uid IMMEDIATELY"),
        _o("immediate-gid", STR, "setgid to the specified group/gid IMMEDIATELY"),
        _o("no-initgroups", FLAG, "disable additional groups set via initgroups()"),
        _o("cap", STR, "set process capability"),
        _o("unshare", STR, "unshare() part of the processes and put it in a new namespace"),
        _o(
            "unshare2",
            STR,
            "unshare() part of the processes and put it in a new namespace after rootfs change",
        ),
        _o("setns-socket", STR, "expose a unix socket returning namespace fds from /proc/self/ns"),
        _o(
            "setns-socket-skip",
            LIST,
            "skip the specified entry when sending setns file descriptors",
            aliases=("setns-skip",),
        ),
        _o("setns", STR, "join a namespace created by an external uWSGI instance"),
        _o("setns-preopen", FLAG, "open /proc/self/ns as soon as possible and cache fds"),
        _o("jailed", FLAG, "mark the instance as jailed (force the execution of post_jail hooks)"),
        _o("jail", STR, "put the instance in a FreeBSD jail"),
        _o("jail-ip4", LIST, "add an ipv4 address to the FreeBSD jail"),
        _o("jail-ip6", LIST, "add an ipv6 address to the FreeBSD jail"),
        _o(
            "jidfile",
            STR,
            "save the jid of a FreeBSD jail in the specified file",
            aliases=("jid-file",),
        ),
        _o("jail2", LIST, "add an option to the FreeBSD jail", aliases=("libjail",)),
        _o("jail-attach", STR, "attach to the FreeBSD jail"),
        _o(
            "refork",
            FLAG,
            "fork() again after privileges drop. Useful for jailing systems",
            aliases=("re-fork",),
        ),
        _o(
            "refork-as-root",
            FLAG,
            "fork() again before privileges drop. Useful for jailing systems",
            aliases=("re-fork-as-root",),
        ),
        _o(
            "refork-post-jail",
            FLAG,
            "fork() again after jailing. Useful for jailing systems",
            aliases=("re-fork-post-jail",),
        ),
        _o("ksm", INT, "enable Linux KSM", bare="1"),
        _o("never-swap", FLAG, "lock all memory pages avoiding swapping"),
        _o(
            "forkbomb-delay",
            INT,
            "sleep for the specified number of seconds when a forkbomb is detected",
        ),
        _o("master-as-root", FLAG, "leave master process running as root"),
        _o(
            "drop-after-init",
            FLAG,
            "run privileges drop after plugin initialization, superseded by drop-after-apps",
        ),
        _o(
            "drop-after-apps",
            FLAG,
            "run privileges drop after apps loading, superseded by master-as-root",
        ),
        _o("cgroup", LIST, "put the processes in the specified cgroup"),
        _o("cgroup-opt", LIST, "set value in specified cgroup option"),
        _o("cgroup-dir-mode", STR, "set permission for cgroup directory (default is 700)"),
        _o("namespace", STR, "run in a new namespace under the specified rootfs", aliases=("ns",)),
        _o("namespace-keep-mount", LIST, "keep the specified mountpoint in your namespace"),
        _o("namespace-net", STR, "add network namespace", aliases=("ns-net",)),
    ),
    *_section(
        "Alarms",
        "alarm",
        _o("alarm", LIST, "create a new alarm, syntax: <alarm> <plugin:args>"),
        _o(
            "alarm-cheap",
            FLAG,
            "use main alarm thread rather than create dedicated threads for curl-based alarms",
        ),
        _o("alarm-freq", INT, "tune the anti-loop alarm system (default 3 seconds)", default=3),
        _o(
            "alarm-fd",
            LIST,
            "raise the specified alarm when an fd is read for read (by default it reads 1 "
            "byte, set 8 for eventfd)",
        ),
        _o(
            "alarm-segfault",
            LIST,
            "raise the specified alarm when the segmentation fault handler is executed",
            aliases=("segfault-alarm",),
        ),
        _o(
            "alarm-backlog",
            LIST,
            "raise the specified alarm when the socket backlog queue is full",
            aliases=(
                "backlog-alarm",
                "lq-alarm",
                "alarm-lq",
                "alarm-listen-queue",
                "listen-queue-alarm",
            ),
        ),
        _o(
            "log-alarm",
            LIST,
            "raise the specified alarm when a log line matches the specified regexp, syntax: "
            "<alarm>[,alarm...] <regexp>",
            aliases=("alarm-log",),
        ),
        _o(
            "not-log-alarm",
            LIST,
            "skip the specified alarm when a log line matches the specified regexp, syntax: "
            "<alarm>[,alarm...] <regexp>",
            aliases=("not-alarm-log",),
        ),
        _o("alarm-list", FLAG, "list enabled alarms", aliases=("alarms-list",)),
        _o("alarm-msg-size", INT, "set the max size of an alarm message (default 8192)"),
    ),
    *_section(
        "Plugins",
        "plugins",
        _o(
            "plugins",
            LIST,
            "load uWSGI plugins (ignored: every polyhost runtime is built in)",
            aliases=("plugin",),
        ),
        _o(
            "need-plugins",
            LIST,
            "load uWSGI plugins, exit on error (ignored: every runtime is built in)",
            aliases=("need-plugin",),
        ),
        _o(
            "plugins-dir",
            LIST,
            "add a directory to the plugin search path (ignored by polyhost)",
            aliases=("plugin-dir",),
        ),
        _o("plugins-list", FLAG, "list enabled plugins", aliases=("plugin-list",)),
        _o("autoload", FLAG, "try to automatically load plugins when unknown options are found"),
        _o("dlopen", LIST, "blindly load a shared library"),
    ),
    *_runtime_section(
        "psgi",
        _o("psgi", STR, "load a psgi app"),
        _o("psgi-enable-psgix-io", FLAG, "enable psgix.io support"),
        _o("perl-no-die-catch", FLAG, "do not catch $SIG{__DIE__}"),
        _o("perl-local-lib", STR, "set perl locallib path"),
        _o("perl-version", FLAG, "print perl version"),
        _o("perl-args", STR, "add items (space separated) to @ARGV"),
        _o("perl-arg", LIST, "add an item to @ARGV"),
        _o("perl-exec", LIST, "exec the specified perl file before fork()"),
        _o("perl-exec-post-fork", LIST, "exec the specified perl file after fork()"),
        _o("perl-auto-reload", INT, "enable perl auto-reloader with the specified frequency"),
        _o(
            "perl-auto-reload-ignore",
            LIST,
            "ignore the specified files when auto-reload is enabled",
        ),
        _o("plshell", STR, "run a perl interactive shell", bare=""),
        _o("plshell-oneshot", FLAG, "run a perl interactive shell (one shot)"),
        _o("perl-no-plack", FLAG, "force the use of do instead of Plack::Util::load_psgi"),
    ),
    *_runtime_section(
        "rack",
        _o("rails", STR, "load a rails <= 2.x app"),
        _o("rack", STR, "load a rack app"),
        _o(
            "ruby-gc-freq",
            INT,
            "run Ruby's GC every N requests (0: leave it to Ruby; uWSGI runs it every request)",
            aliases=("rb-gc-freq",),
            default=0,
        ),
        _o("rb-lib", LIST, "add a directory to the ruby libdir search path", aliases=("ruby-lib",)),
        _o(
            "rb-require",
            LIST,
            "import/require a ruby module/script",
            aliases=("ruby-require", "rbrequire", "rubyrequire", "require"),
        ),
        _o(
            "shared-rb-require",
            LIST,
            "import/require a ruby module/script (shared)",
            aliases=(
                "shared-ruby-require",
                "shared-rbrequire",
                "shared-rubyrequire",
                "shared-require",
            ),
        ),
        _o("gemset", STR, "load the specified gemset (rvm)", aliases=("rvm",)),
        _o("rvm-path", LIST, "search for rvm in the specified directory"),
        _o("rbshell", STR, "run  a ruby/irb shell", bare=""),
        _o("rbshell-oneshot", FLAG, "set ruby/irb shell (one shot)"),
        _o(
            "rbthreads",
            FLAG,
            "enable ruby native threads",
            aliases=("rb-threads", "rbthread", "rb-thread"),
        ),
    ),
    *_runtime_section(
        "lua",
        _o("lua", STR, "load lua wsapi app"),
        _o("lua-load", LIST, "load a lua file"),
        _o(
            "lua-shell",
            FLAG,
            "run the lua interactive shell (debug.debug())",
            aliases=("luashell",),
        ),
        _o(
            "lua-gc-freq",
            INT,
            "set the lua gc frequency (default: 0, runs after every request)",
            default=0,
        ),
    ),
    *_runtime_section(
        "jvm",
        _o("jvm-main-class", LIST, "load the specified class and call its main() function"),
        _o("jvm-opt", LIST, "add the specified jvm option"),
        _o("jvm-class", LIST, "load the specified class"),
        _o("jvm-classpath", LIST, "add the specified directory to the classpath"),
        _o("jwsgi", STR, "load the specified JWSGI application (syntax class:method)"),
        _o("ring-load", LIST, "load the specified clojure script", aliases=("clojure-load",)),
        _o("ring-app", STR, "map the specified ring application (syntax namespace:function)"),
    ),
    *_runtime_section(
        "mono",
        _o(
            "mono-app",
            LIST,
            "load a Mono asp.net app from the specified directory ([key=]dir)",
            metavar="[KEY=]DIR",
        ),
        _o(
            "mono-handler",
            LIST,
            "serve a .NET handler: Assembly.dll:Namespace.Class[.Method], a method (default Handle)"
            " object[] Handle(IDictionary<string,string> env, Stream body) returning"
            " {int status, IDictionary or string[] name/value headers, string/byte[]/Stream body}",
            metavar="ASSEMBLY.dll:CLASS",
        ),
        _o(
            "mono-gc-freq",
            INT,
            "run the Mono GC every <n> requests (default 0: never forced; uWSGI forces it after"
            " every request)",
        ),
        _o("mono-key", LIST, "select the ApplicationHost based on the specified CGI var"),
        _o("mono-version", STR, "set the Mono jit version"),
        _o("mono-config", STR, "set the Mono config file"),
        _o(
            "mono-assembly",
            STR,
            "load the specified assembly in every worker and let app domains find it (polyhost"
            " builds its own uwsgi.dll: uWSGI's is not loaded)",
        ),
        _o("mono-exec", LIST, "exec the specified assembly just before app loading"),
        _o("mono-index", LIST, "add an asp.net index file"),
    ),
    *_runtime_section(
        "php",
        _o("php-ini", LIST, "set php.ini path", aliases=("php-config",)),
        _o(
            "php-ini-append", LIST, "set php.ini path (append mode)", aliases=("php-config-append",)
        ),
        _o("php-set", LIST, "set a php config directive"),
        _o("php-index", LIST, "list the php index files"),
        _o("php-docroot", STR, "force php DOCUMENT_ROOT"),
        _o("php-allowed-docroot", LIST, "list the allowed document roots"),
        _o("php-allowed-ext", LIST, "list the allowed php file extensions"),
        _o("php-allowed-script", LIST, "list the allowed php scripts (require absolute path)"),
        _o("php-server-software", STR, "force php SERVER_SOFTWARE"),
        _o("php-app", STR, "force the php file to run at each request"),
        _o(
            "php-app-qs",
            STR,
            "when in app mode force QUERY_STRING to the specified value + REQUEST_URI",
        ),
        _o(
            "php-fallback",
            STR,
            "run the specified php script when the requested one does not exist",
        ),
        _o(
            "php-fallback2",
            STR,
            "run the specified php script relative to the document root when the requested "
            "one does not exist",
        ),
        _o("php-fallback-qs", STR, "php-fallback with QUERY_STRING set"),
        _o("php-app-bypass", LIST, "if the regexp matches the uri the --php-app is bypassed"),
        _o("php-var", LIST, "add/overwrite a CGI variable at each request"),
        _o("php-constant", LIST, "define a php constant for each request"),
        _o(
            "php-dump-config", FLAG, "dump php config (if modified via --php-set or append options)"
        ),
        _o(
            "php-exec-before",
            LIST,
            "run specified php code before the requested script",
            aliases=("php-exec-begin",),
        ),
        _o(
            "php-exec-after",
            LIST,
            "run specified php code after the requested script",
            aliases=("php-exec-end",),
        ),
        _o("php-sapi-name", STR, "hack the sapi name (required for enabling zend opcode cache)"),
    ),
    *_runtime_section(
        "cgi",
        _o("cgi", LIST, "add a cgi mountpoint/directory/script"),
        _o("cgi-map-helper", LIST, "add a cgi map-helper", aliases=("cgi-helper",)),
        _o("cgi-from-docroot", FLAG, "blindly enable cgi in DOCUMENT_ROOT"),
        _o("cgi-buffer-size", INT, "set cgi buffer size"),
        _o("cgi-timeout", INT, "set cgi script timeout"),
        _o("cgi-index", LIST, "add a cgi index file"),
        _o("cgi-allowed-ext", LIST, "cgi allowed extension"),
        _o("cgi-unset", LIST, "unset specified environment variables"),
        _o("cgi-loadlib", LIST, "load a cgi shared library/optimizer"),
        _o("cgi-optimize", FLAG, "enable cgi realpath() optimizer", aliases=("cgi-optimized",)),
        _o("cgi-path-info", FLAG, "disable PATH_INFO management in cgi scripts"),
        _o("cgi-do-not-kill-on-error", FLAG, "do not send SIGKILL to cgi script on errors"),
        _o("cgi-async-max-attempts", FLAG, "max waitpid() attempts in cgi async mode (default 10)"),
        _o("cgi-close-stdin-on-eof", FLAG, "close STDIN on input EOF"),
        _o("cgi-safe", LIST, "skip security checks if the cgi file is under the specified path"),
    ),
    *_section(
        "Go (gccgo)",
        "go",
        _o(
            "go-load",
            LIST,
            "load a go shared library in the process address space, eventually patching "
            "main.main and __go_init_main",
            aliases=("gccgo-load",),
        ),
        _o("go-args", STR, "set go commandline arguments", aliases=("gccgo-args",)),
        _o(
            "goroutines",
            INT,
            "a shortcut setting optimal options for goroutine-based apps, takes the number "
            "of max goroutines to spawn as argument",
        ),
    ),
)

_BY_NAME: dict[str, Option] = {}
_BY_SHORT: dict[str, Option] = {}
for _option in OPTIONS:
    for _name in (_option.name, *_option.aliases):
        _BY_NAME[_name] = _option
    if _option.short:
        _BY_SHORT.setdefault(_option.short, _option)


def find_option(name: str) -> Option | None:
    """The option called `name` (its main name or any alias), or None."""
    return _BY_NAME.get(name)


def find_short_option(letter: str) -> Option | None:
    """The option whose short form is `-letter`, or None."""
    return _BY_SHORT.get(letter)


def all_option_names() -> list[str]:
    """Every name and alias, for did-you-mean suggestions."""
    return list(_BY_NAME)


#: How warnings name a component that is not available yet: "needs <title>" (a runtime's title
#: comes from the catalog).
COMPONENT_TITLES = {
    "core": "a core feature",
    "go": "the Go runtime",
    "cache": "the cache",
    "spooler": "the spooler",
    "signal": "the signal framework",
    "mule": "mules",
    "rpc": "the RPC subsystem",
    "stats": "the stats subsystem",
    "static": "static file serving",
    "logging": "the logging subsystem",
    "emperor": "the Emperor",
    "router": "internal routing",
    "http": "the HTTP router",
    "gateway": "the gateways (fastrouter, rawrouter, sslrouter)",
    "ssl": "SSL/TLS support",
    "cheaper": "the cheaper (adaptive workers) subsystem",
    "hooks": "hooks",
    "security": "jails and namespaces",
    "legion": "the Legion subsystem",
    "subscription": "subscriptions",
    "zerg": "zerg mode",
    "async": "async loop engines",
    "alarm": "alarms",
    "plugins": "plugins",
}

#: uWSGI plugin names and the polyhost component that replaces each.
PLUGIN_COMPONENTS = {
    "python": "python",
    "python3": "python",
    "psgi": "psgi",
    "perl": "psgi",
    "rack": "rack",
    "ruby": "rack",
    "lua": "lua",
    "jvm": "jvm",
    "jwsgi": "jvm",
    "ring": "jvm",
    "mono": "mono",
    "php": "php",
    "cgi": "cgi",
    "gccgo": "go",
    "http": "http",
    "cache": "cache",
    "router_cache": "cache",
    "spooler": "spooler",
    "signal": "signal",
    "rpc": "rpc",
    "corerouter": "gateway",
    "fastrouter": "gateway",
    "rawrouter": "gateway",
    "sslrouter": "gateway",
    "router_static": "static",
    "emperor_zeromq": "emperor",
    "cheaper_busyness": "cheaper",
    "gevent": "async",
    "ugreen": "async",
    "asyncio": "async",
    "greenlet": "async",
    "zergpool": "zerg",
    "logfile": "logging",
    "syslog": "logging",
    "rsyslog": "logging",
}


def component_title(component: str) -> str:
    """How a message names a component: "the Perl (PSGI) runtime", "the cache"."""
    from polyhost.catalog import CATALOG  # the bridges import the config: looked up when asked

    runtime = CATALOG.find(component)
    if runtime is not None:
        return f"the {runtime.title()} runtime"
    return COMPONENT_TITLES.get(component, component)


def group_title(option: Option) -> str:
    """The --help heading of an option: its group, or its runtime's title from the catalog."""
    from polyhost.catalog import CATALOG

    runtime = CATALOG.find(option.group)
    return option.group if runtime is None else runtime.title()


def plugin_component(plugin: str) -> str | None:
    """The component replacing a uWSGI plugin name such as "python311" or "0:php", or None."""
    name = plugin.split("|", 1)[0].split(":")[-1].strip().lower()
    name = re.sub(r"_plugin(\.so)?$", "", name)
    if re.fullmatch(r"python\d*", name):
        return "python"
    if re.fullmatch(r"(ruby|rack)\d*", name):
        return "rack"
    return PLUGIN_COMPONENTS.get(name)


def component_available(component: str) -> bool:
    """True when polyhost implements at least one option of `component`."""
    return any(option.available for option in OPTIONS if option.component == component)


def _socket_mode(value: str) -> str:
    if value == "1":
        return "666"
    if not re.fullmatch(r"[0-7]{3}", value):
        raise ValueError("invalid chmod value: expected three octal digits such as 660")
    return value


def _log_date(value: str) -> str:
    """ "true" for the default date format (also a bare key or yes/on/1), else a strftime format."""
    return "true" if value.strip().lower() in ("", "true", "yes", "on", "1") else value


#: Stricter checks for some str options: a function returning the normalised value or raising
#: ValueError with what is expected.
VALUE_FORMATS: dict[str, Callable[[str], str]] = {"mode": _socket_mode, "logdate": _log_date}

_TRUE_WORDS = frozenset({"", "true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def parse_value(option: Option, raw: str | None) -> Any:
    """The typed value of `raw` for `option`; None is a bare key. Raises ValueError(expected)."""
    if option.type == "bool":
        if raw is None or raw.strip().lower() in _TRUE_WORDS:
            return True
        if raw.strip().lower() in _FALSE_WORDS:
            return False
        raise ValueError("expected a boolean (true/false, yes/no, on/off, 1/0)")
    if raw is None:
        if option.type != "str":
            raise ValueError(f"expected {'an integer' if option.type == 'int' else 'a number'}")
        raw = ""
    if option.type == "int":
        if not re.fullmatch(r"\s*[-+]?\d+\s*", raw):
            raise ValueError("expected an integer")
        return int(raw)
    if option.type == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
    if option.format:
        return VALUE_FORMATS[option.format](raw)
    return raw
