"""polyhost: one application server for many languages, compatible with uWSGI's options and wire."""

__version__ = "0.1.0"
#: the uWSGI version whose behaviour polyhost follows (reported by `uwsgi.version`-style APIs)
UWSGI_COMPAT_VERSION = "2.0.21"
