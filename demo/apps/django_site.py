"""The demo's front page: a one-file Django site (settings in code), a visit counter in the
cache every language shares, and the RPC function `shout` that the Sinatra, Perl and Clojure
apps call."""

import django
import uwsgi
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="demo-only-not-a-secret",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()


def shout(text: bytes) -> bytes:
    return text.upper() + b"!"


uwsgi.register_rpc("shout", shout)


def index(request):
    visits = uwsgi.cache_inc("visits", 1, 0, "demo")
    return HttpResponse(
        f"Hello from Django {django.get_version()}, worker {uwsgi.worker_id()} of "
        f"{uwsgi.numproc}: visit {visits} (counter shared with Sinatra, Perl and Clojure)\n",
        content_type="text/plain",
    )


urlpatterns = [path("", index)]
application = get_wsgi_application()
