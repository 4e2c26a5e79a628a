# app1.py of the "several flask apps under one url" page
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello World! i am app1"
