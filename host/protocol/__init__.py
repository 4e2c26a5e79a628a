"""Wire protocols: uwsgi packets, HTTP/1.1 (httptools) and FastCGI, to and from requests."""
