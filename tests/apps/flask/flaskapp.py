"""A small Flask app: routing, query and form parameters, JSON, cookies, errors."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/hello/<name>")
def hello(name: str):
    return f"Hello {name}{request.args.get('punct', '')}"


@app.post("/form")
def form():
    return jsonify(
        fields=request.form.to_dict(),
        length=request.content_length,
        script_name=request.script_root,
    )


@app.post("/upload")
def upload():
    stored = request.files["file"]
    data = stored.read()
    return jsonify(name=stored.filename, size=len(data))


@app.get("/cookie")
def cookie():
    response = jsonify(seen=request.cookies.get("visit"))
    response.set_cookie("visit", "1")
    return response
