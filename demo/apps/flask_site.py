"""A Flask app mounted at /flask in the demo."""

from flask import Flask, request

application = Flask(__name__)


@application.get("/")
def index():
    return f"Flask at {request.script_root or '/'} says hi\n"
