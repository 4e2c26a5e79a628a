"""The Python WSGI runtime and the `uwsgi` module given to Python apps."""
