"""Hosts one JvmRuntime in its own process for tests/test_jvm.py (a JVM must not start inside
pytest, which forks later). Reads one JSON request per line on stdin, serves it with the runtime
exactly as a worker would (real Request, collecting Responder) and answers one JSON line.

argv[1] is a JSON object: {"target": ..., "options": {...}, "threads": N, "mountpoint": ...,
"hide": [module names to make unimportable], "patch": {adapter constant: value}}.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))

setup = json.loads(sys.argv[1])
for hidden in setup.get("hide", []):
    sys.modules[hidden] = None  # type: ignore[assignment]

from bridge_support import (  # noqa: E402
    CollectingResponder,
    LogLines,
    PatternBody,
    config_of,
    make_request,
    peak_rss_kib,
    reset_peak_rss,
)

from polyhost.bridges.jvm import adapter  # noqa: E402
from polyhost.dispatch import AppLoadError, AppSpec, RuntimeContext  # noqa: E402

for name, value in setup.get("patch", {}).items():
    setattr(adapter, name, value)
log = LogLines()
ctx = RuntimeContext(
    config=config_of(setup.get("options")), log=log, worker_id=1, threads=setup.get("threads", 1)
)
runtime = adapter.JvmRuntime(
    ctx, [AppSpec("jvm", setup["target"], setup.get("mountpoint", ""), "test")]
)
try:
    runtime.load(0)
except AppLoadError as exc:
    print(json.dumps({"error": str(exc), "log": log.lines}), flush=True)
    sys.exit(0)
print(json.dumps({"ready": True, "log": log.lines}), flush=True)
out_lock = threading.Lock()


def serve(message: dict) -> dict:
    if "pattern" in message:
        body = PatternBody(message["pattern"], piece=65536)
        length = None if message.get("chunked") else message["pattern"]
    else:
        body = base64.b64decode(message.get("body", ""))
        length = None
    request = make_request(
        method=message.get("method", "GET"),
        path=message.get("path", "/"),
        query=message.get("query", ""),
        body=body,
        headers=message.get("headers"),
        content_length=length,
        script_name=message.get("script_name", ""),
    )
    request.modifier1 = 8
    request.vars.update(message.get("vars", {}))
    if message.get("measure"):
        reset_peak_rss()
    before = peak_rss_kib()
    responder = CollectingResponder(keep_body=message.get("keep_body", True))
    runtime.handle(runtime.apps[0], request, responder)
    responder.finish()
    return {
        "status": responder.status,
        "status_line": responder.status_line,
        "headers": responder.headers,
        "body": base64.b64encode(bytes(responder.body)).decode(),
        "bytes_sent": responder.bytes_sent,
        "writes": responder.writes,
        "sendfiles": responder.sendfiles,
        "sha256": responder.digest.hexdigest(),
        "upload_md5": body.expected_md5 if isinstance(body, PatternBody) else None,
        "rss_growth_kib": peak_rss_kib() - before,
        "exceptions": runtime.apps[0].exceptions,
    }


def answer(message: dict) -> None:
    result = serve(message)
    result["id"] = message.get("id")
    with out_lock:
        result["log"] = log.lines[:]
        print(json.dumps(result), flush=True)


for line in sys.stdin:
    request = json.loads(line)
    if request.get("parallel"):
        threading.Thread(target=answer, args=(request,)).start()
    else:
        answer(request)
