"""The JVM runtime (modifier1 8): JWSGI (modifier2 0) and Clojure/Ring (modifier2 1) via JPype.

One JVM per worker, started after fork (a JVM does not survive fork) with `-Xrs`, so the
worker's own signal handling stays in charge. The Java `uwsgi` class (uwsgi.java) and the Ring
glue (UwsgiRing.java) are compiled with javac on first start into a cache directory keyed by
their sources and the JDK, then reused. A request crosses into Java as one byte array (the vars,
then the body or its first 64 KiB) and a small response comes back as one byte array too. The
JVM is one owner on the fabric (`jvm`, host/fabric/inprocess.py): the Java `uwsgi` class calls
operations and registers RPC functions and signal handlers through the worker's Host proxy.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from http import HTTPStatus
from itertools import chain
from pathlib import Path
from typing import Any

from polyhost import UWSGI_COMPAT_VERSION
from polyhost.bridges.jvm import JDK_PACKAGE, JvmDeclaration
from polyhost.config import option_values
from polyhost.dispatch import App, AppLoadError, AppSpec, Runtime, RuntimeContext
from polyhost.fabric.inprocess import InProcessFabric
from polyhost.fabric.ops import FabricError
from polyhost.process_state import CURRENT
from polyhost.request import REASONS, BodyReader, Request, Responder, fail_response, simple_error

HERE = Path(__file__).parent
API_SOURCES = (HERE / "uwsgi.java",)
RING_SOURCES = (HERE / "UwsgiRing.java",)
CLOJURE_NS = HERE / "uwsgi.clj"
#: Debian's clojure jar (package clojure); its manifest brings spec.alpha along
CLOJURE_JAR = "/usr/share/java/clojure.jar"
#: request bodies up to this size go to Java with the vars; bigger ones are read as Java asks
INLINE_BODY_MAX = 65536
JWSGI, RING = 0, 1
#: first byte of a response head (see uwsgi.java): body inline, in chunks, or a file
INLINE, CHUNKS, FILE = 0, 1, 2
STATUS_LINES = {
    **{int(s): f"{int(s)} {s.phrase}" for s in HTTPStatus},
    **{code: f"{code} {reason}" for code, reason in REASONS.items()},
}


class Jvm:
    """The JVM of this process (at most one: a JVM cannot be restarted) and its classes."""

    def __init__(self, jpype: Any, classpath: list[str], ring: bool) -> None:
        self.jpype = jpype
        self.classpath = classpath
        self.ring = ring
        self.api = jpype.JClass("uwsgi")
        self.jwsgi = jpype.JClass("uwsgi$Jwsgi")
        self.byte_array = jpype.JArray(jpype.JByte)
        self.exception = jpype.JException
        self.ring_class: Any = jpype.JClass("UwsgiRing") if ring else None
        self.version = str(jpype.JClass("java.lang.System").getProperty("java.vm.version"))

        @jpype.JImplements("uwsgi$BodySource")
        class BodySource:
            """A request body Java reads through the worker, 64 KiB at a time."""

            def __init__(self, body: BodyReader) -> None:
                self.body = body

            @jpype.JOverride
            def read(self, size: int) -> bytes | None:
                return self.body.read(int(size)) or None

        self.body_source = BodySource

    def stack_trace(self, error: Any) -> str:
        return str(self.api.stackTrace(error)).rstrip()

    def call_function(self, handle: Any, args: list[bytes]) -> bytes:
        """Run a registered `uwsgi.RpcBytesFunction` (RpcFunctions are wrapped as one)."""
        try:
            reply = handle.function(args)
        except self.exception as exc:
            raise JavaCallError(self.stack_trace(exc)) from None
        return b"" if reply is None else bytes(reply)

    def run_handler(self, handle: Any, num: int) -> None:
        """Run a registered `uwsgi.SignalHandler`."""
        try:
            handle.function(num)
        except self.exception as exc:
            raise JavaCallError(self.stack_trace(exc)) from None


class JavaCallError(Exception):
    """A Java RPC function or signal handler threw: the Java stack trace."""


_JVM: Jvm | None = None
_JVM_LOCK = threading.Lock()


class JvmRuntime(JvmDeclaration, Runtime):
    """`--jwsgi Class:method`, `--ring-app ns:fn` (+ `--ring-load f.clj`), mounts of .clj/.jar."""

    def __init__(self, ctx: RuntimeContext, specs: list[AppSpec]) -> None:
        super().__init__(ctx, specs)
        self.jvm: Jvm | None = None

    # -- loading ---------------------------------------------------------------------------
    def load(self, first_id: int) -> list[App]:
        config = self.ctx.config
        ring_app = config.get("ring-app") or ""
        plans = [self._plan(spec, ring_app) for spec in self.specs]
        ring = any(kind == RING for kind, _, _ in plans)
        jars = [path for kind, _, path in plans if kind == JWSGI and path]
        jvm = self._start(ring, jars)
        self.jvm = jvm
        try:
            if ring:
                self._load_clojure(jvm)
            for name in option_values(config, "jvm-main-class"):
                self._run_main(jvm, name)
            for name in option_values(config, "jvm-class"):
                java_class(jvm, name, "jvm-class")
            apps = []
            for offset, (spec, (kind, target, _)) in enumerate(zip(self.specs, plans, strict=True)):
                handle = self._load_app(jvm, spec, kind, target)
                apps.append(
                    App(
                        first_id + offset,
                        self,
                        spec.mountpoint,
                        spec.target,
                        self.modifier1,
                        kind,
                        chdir=os.getcwd(),
                        handle=handle,
                    )
                )
                self.ctx.log(
                    f"{'Ring' if kind == RING else 'JWSGI'} app {target} loaded "
                    f"(worker {self.ctx.worker_id})"
                )
        except jvm.exception as exc:
            raise AppLoadError(
                f"the JVM failed while loading apps:\n{jvm.stack_trace(exc)}"
            ) from None
        self.apps = apps
        return apps

    def _plan(self, spec: AppSpec, ring_app: str) -> tuple[int, str, str]:
        """(JWSGI or RING, what to load, a jar or .clj file to use or "") for one app."""
        target = spec.target
        lowered = target.lower()
        if lowered.endswith(".clj"):
            path = os.path.abspath(target)
            if not os.path.isfile(path):
                raise AppLoadError(f"{spec.origin}: Clojure file {target!r} not found ({path})")
            return RING, ring_app or f"{clojure_namespace(path, spec)}:handler", path
        if lowered.endswith(".jar"):
            path = os.path.abspath(target)
            return JWSGI, f"{jar_main_class(path, spec)}:application", path
        if not spec.mountpoint and target == ring_app:
            return RING, target, ""
        return JWSGI, target, ""

    def _start(self, ring: bool, jars: list[str]) -> Jvm:
        global _JVM
        try:
            import jpype
        except ImportError as exc:
            raise AppLoadError(
                f"the JVM runtime needs JPype ({exc}): pip install jpype1 "
                "(in polyhost's environment)"
            ) from None
        config = self.ctx.config
        java_home = find_java_home()
        clojure = find_clojure_jar(config) if ring else ""
        classes = compiled_classes(java_home, clojure, self.ctx.log)
        classpath = [str(classes)]
        if clojure and clojure not in classpath:
            classpath.append(clojure)
        for entry in [*option_values(config, "jvm-classpath"), *jars]:
            classpath.extend(expand_classpath(entry))
        classpath.append(".")
        with _JVM_LOCK:
            if _JVM is not None:
                missing = [p for p in classpath if p not in _JVM.classpath]
                if missing or (ring and not _JVM.ring):
                    raise AppLoadError(
                        f"a JVM already runs in this process without {missing or 'Clojure'}; "
                        "a JVM cannot be restarted"
                    )
                return _JVM
            started = time.monotonic()
            options = ["-Xrs", *option_values(config, "jvm-opt")]
            try:
                jpype.startJVM(
                    *options,
                    jvmpath=str(libjvm(java_home)),
                    classpath=classpath,
                    convertStrings=False,
                    interrupt=False,
                )
            except Exception as exc:
                raise AppLoadError(
                    f"the JVM did not start ({type(exc).__name__}: {exc}); options "
                    f"{options}, classpath {classpath}"
                ) from None
            jvm = Jvm(jpype, classpath, ring)
            self.ctx.log(
                f"JVM {jvm.version} started in {time.monotonic() - started:.3f}s "
                f"(worker {self.ctx.worker_id}, pid {os.getpid()}, classpath "
                f"{os.pathsep.join(classpath)})"
            )
            self._setup_api(jvm)
            _JVM = jvm
            return jvm

    def _setup_api(self, jvm: Jvm) -> None:
        jpype = jvm.jpype
        log = self.ctx.log
        fabric = InProcessFabric("jvm", jvm.call_function, jvm.run_handler)
        failed = jpype.JClass("uwsgi$FabricException")

        @jpype.JImplements("uwsgi$Host")
        class Host:
            @jpype.JOverride
            def log(self, line: Any) -> None:
                log(str(line))

            @jpype.JOverride
            def requestId(self) -> int:
                return CURRENT.request_id() if CURRENT.request_id else 0

            @jpype.JOverride
            def fabric(self, op: Any, args: Any) -> list[bytes]:
                try:
                    return fabric.call(str(op), [bytes(arg) for arg in args])
                except FabricError as exc:
                    raise failed(str(exc)) from None

            @jpype.JOverride
            def registerRpc(self, name: Any, function: Any) -> None:
                try:
                    fabric.register_rpc(str(name).encode(), function)
                except FabricError as exc:
                    raise failed(str(exc)) from None

            @jpype.JOverride
            def registerSignal(self, num: int, target: Any, handler: Any) -> None:
                try:
                    fabric.register_signal(int(num), str(target), handler)
                except FabricError as exc:
                    raise failed(str(exc)) from None

        config = self.ctx.config
        options = jpype.JClass("java.util.HashMap")()
        for key, value in config.as_uwsgi_opt().items():
            options.put(key, java_option(jpype, value))
        jvm.api.setup(
            Host(),
            self.ctx.worker_id,
            CURRENT.master_pid,
            config.get("processes"),
            UWSGI_COMPAT_VERSION,
            options,
        )

    def _load_clojure(self, jvm: Jvm) -> None:
        started = time.monotonic()
        compiler = jvm.jpype.JClass("clojure.lang.Compiler")
        version = jvm.jpype.JClass("clojure.lang.RT").var("clojure.core", "clojure-version")
        for path in option_values(self.ctx.config, "ring-load"):
            if not os.path.isfile(path):
                raise AppLoadError(f"ring-load: Clojure file {path!r} not found")
            self._clojure_file(jvm, compiler, os.path.abspath(path))
        self.ctx.log(f"Clojure {version.invoke()} ready in {time.monotonic() - started:.3f}s")

    @staticmethod
    def _clojure_file(jvm: Jvm, compiler: Any, path: str) -> None:
        try:
            compiler.loadFile(path)
        except jvm.exception as exc:
            raise AppLoadError(f"loading {path} failed:\n{jvm.stack_trace(exc)}") from None

    def _run_main(self, jvm: Jvm, name: str) -> None:
        """Call the class's static main(String[]), or main(), as uWSGI's jvm plugin does."""
        cls = java_class(jvm, name, "jvm-main-class")
        try:
            cls.main(jvm.jpype.JArray(jvm.jpype.JString)([]))
        except (TypeError, AttributeError):
            try:
                cls.main()
            except (TypeError, AttributeError):
                raise AppLoadError(
                    f"jvm-main-class {name} has no static main(String[]) or main()"
                ) from None
        self.ctx.log(f"jvm-main-class {name}: main() done")

    def _load_app(self, jvm: Jvm, spec: AppSpec, kind: int, target: str) -> Any:
        if kind == RING:
            if spec.target.lower().endswith(".clj"):
                compiler = jvm.jpype.JClass("clojure.lang.Compiler")
                self._clojure_file(jvm, compiler, os.path.abspath(spec.target))
            try:
                return jvm.ring_class.forVar(target)
            except jvm.exception as exc:
                raise AppLoadError(
                    f"{spec.origin}: Ring app {target}: {jvm.stack_trace(exc)}"
                ) from None
        try:
            return jvm.jwsgi(target)
        except jvm.exception as exc:
            raise AppLoadError(f"{spec.origin}: JWSGI app {target}: {exc}") from None

    # -- serving ---------------------------------------------------------------------------
    def handle(self, app: App, request: Request, responder: Responder) -> None:
        jvm = self.jvm
        assert jvm is not None
        data, vars_length, source = self._request_bytes(jvm, request)
        try:
            result = app.handle.call(data, vars_length, source)  # type: ignore[attr-defined]
            if type(result) is jvm.byte_array:
                self._inline(bytes(result), responder)
            else:
                self._stream(result, responder)
        except jvm.exception as exc:
            app.exceptions += 1
            env = request.vars
            self.ctx.log(
                f"{env.get('REQUEST_METHOD')} {env.get('REQUEST_URI')}: Java exception in the "
                f"{'Ring' if app.modifier2 == RING else 'JWSGI'} app {app.target}:\n"
                f"{jvm.stack_trace(exc)}"
            )
            fail_response(responder)

    @staticmethod
    def _request_bytes(jvm: Jvm, request: Request) -> tuple[bytes, int, Any]:
        env = request.vars
        block = "\0".join(chain.from_iterable(env.items())).encode("latin-1", "replace")
        if block.count(0) != 2 * len(env) - 1:  # a NUL inside a value: drop it
            block = "\0".join(
                part.replace("\0", "") for part in chain.from_iterable(env.items())
            ).encode("latin-1", "replace")
        length = request.content_length
        if length is not None and length <= INLINE_BODY_MAX:
            return block + read_exactly(request.body, length), len(block), None
        if length is None and "HTTP_TRANSFER_ENCODING" not in env:
            return block, len(block), None
        return block, len(block), jvm.body_source(request.body)

    @staticmethod
    def _head(data: bytes) -> tuple[int, str, list[tuple[str, str]], int]:
        end = 5 + int.from_bytes(data[1:5], "big")
        fields = data[5:end].decode("latin-1").split("\0")
        code = int(fields[0])
        status = STATUS_LINES.get(code, f"{code} Unknown")
        return data[0], status, list(zip(fields[1::2], fields[2::2], strict=True)), end

    def _inline(self, data: bytes, responder: Responder) -> None:
        _, status, headers, end = self._head(data)
        responder.start(status, headers)
        if len(data) > end:
            responder.write(data[end:])

    def _stream(self, stream: Any, responder: Responder) -> None:
        head = bytes(stream.head)
        kind, status, headers, end = self._head(head)
        if kind == FILE:
            path = head[end:].decode("utf-8", "surrogateescape")
            try:
                file = open(path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                self.ctx.log(f"the app's response body is the file {path}, which fails: {exc}")
                simple_error(responder, 500)
                return
            with file:
                size = os.fstat(file.fileno()).st_size
                if not any(name.lower() == "content-length" for name, _ in headers):
                    headers.append(("Content-Length", str(size)))
                responder.start(status, headers)
                responder.sendfile(file, 0, size)
            return
        responder.start(status, headers)
        try:
            while (piece := stream.next()) is not None:
                responder.write(bytes(piece))
        finally:
            stream.close()


# -- finding and building what the JVM needs ------------------------------------------------
def java_class(jvm: Jvm, name: str, option: str) -> Any:
    """A class by its '.' or '/' name (as uWSGI's options take it)."""
    try:
        return jvm.jpype.JClass(name.replace("/", "."))
    except (TypeError, jvm.exception) as exc:
        raise AppLoadError(f"{option} {name}: class not found on the classpath ({exc})") from None


def find_java_home() -> Path:
    """The JDK to run and compile with: $JAVA_HOME if set, else the one JPype finds."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        home = Path(java_home)
        if not libjvm(home).is_file():
            raise AppLoadError(
                f"JAVA_HOME={java_home} holds no JVM (no lib/server/libjvm.so): point it at a "
                f"JDK, or unset it and install the Debian package {JDK_PACKAGE}"
            )
        return home
    try:
        import jpype

        found = Path(jpype.getDefaultJVMPath())
    except Exception as exc:  # JVMNotFoundException and friends
        raise AppLoadError(
            f"no Java found ({exc}): install the Debian package {JDK_PACKAGE} "
            f"(apt-get install {JDK_PACKAGE}) or set JAVA_HOME"
        ) from None
    return found.resolve().parent.parent.parent  # <home>/lib/server/libjvm.so


def libjvm(java_home: Path) -> Path:
    return java_home / "lib" / "server" / "libjvm.so"


def find_clojure_jar(config: Any) -> str:
    """A clojure jar on --jvm-classpath, else Debian's."""
    for entry in option_values(config, "jvm-classpath"):
        for path in expand_classpath(entry):
            if re.fullmatch(r"clojure(-[\d.]+)?\.jar", os.path.basename(path)):
                return path
    if not os.path.isfile(CLOJURE_JAR):
        raise AppLoadError(
            f"Ring apps need Clojure, and {CLOJURE_JAR} is missing: install the Debian package "
            "clojure (apt-get install clojure) or put a clojure jar on --jvm-classpath"
        )
    return CLOJURE_JAR


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(base) / "polyhost" / "jvm"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        root = Path(tempfile.gettempdir()) / f"polyhost-{os.getuid()}" / "jvm"
        root.mkdir(parents=True, exist_ok=True)
    return root


def compiled_classes(java_home: Path, clojure: str, log: Any) -> Path:
    """The directory with uwsgi.class (and UwsgiRing.class when `clojure`), built if needed."""
    import hashlib  # here, not at the top: libcrypto would cost every process 4 MB of RSS

    sources = [*API_SOURCES, *(RING_SOURCES if clojure else ())]
    digest = hashlib.sha256(str(java_home.resolve()).encode())
    for source in [*sources, CLOJURE_NS]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    if clojure:
        stat = os.stat(clojure)
        digest.update(f"{os.path.realpath(clojure)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    root = cache_root()
    target = root / digest.hexdigest()[:20]
    if (target / "uwsgi.class").is_file():
        return target
    javac = java_home / "bin" / "javac"
    if not javac.is_file():
        found = shutil.which("javac")
        if found is None:
            raise AppLoadError(
                f"javac is needed once to build polyhost's Java classes and was not found in "
                f"{java_home}/bin or on PATH: install the Debian package {JDK_PACKAGE}"
            )
        javac = Path(found)
    started = time.monotonic()
    building = Path(tempfile.mkdtemp(prefix="building-", dir=root))
    command = [str(javac), "-encoding", "UTF-8", "-nowarn", "-d", str(building)]
    if clojure:
        command += ["-cp", clojure]
    result = subprocess.run(
        [*command, *map(str, sources)], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise AppLoadError(f"javac failed building polyhost's Java classes:\n{result.stderr}")
    shutil.copy(CLOJURE_NS, building / CLOJURE_NS.name)
    try:
        building.rename(target)
    except OSError:  # another worker built it first
        shutil.rmtree(building, ignore_errors=True)
    log(f"built polyhost's Java classes in {time.monotonic() - started:.1f}s into {target}")
    return target


def expand_classpath(entry: str) -> list[str]:
    """A --jvm-classpath entry: a jar, a directory, a glob, or `dir/*` (the jars in dir)."""
    if entry.endswith(("/*", os.sep + "*")):
        entry = entry[:-1] + "*.jar"
    if glob.has_magic(entry):
        return sorted(os.path.abspath(p) for p in glob.glob(entry))
    return [os.path.abspath(entry)]


def jar_main_class(path: str, spec: AppSpec) -> str:
    import zipfile  # here: only JVM apps need it, every process lists the runtimes

    try:
        with zipfile.ZipFile(path) as jar:
            manifest = jar.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise AppLoadError(f"{spec.origin}: cannot read the manifest of {path}: {exc}") from None
    match = re.search(r"^Main-Class:\s*(\S+)", manifest, re.MULTILINE)
    if match is None:
        raise AppLoadError(
            f"{spec.origin}: {path} names no Main-Class in its manifest: use "
            "--jvm-classpath JAR --jwsgi pkg.Class:method"
        )
    return match.group(1)


def clojure_namespace(path: str, spec: AppSpec) -> str:
    """The namespace a .clj file declares with its first (ns ...) form."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    code = re.sub(r";[^\n]*", "", text)
    match = re.search(r"\(\s*ns\s+(?:\^\S+\s+)*([^\s()\[\]{}\"]+)", code)
    if match is None:
        raise AppLoadError(f"{spec.origin}: {path} has no (ns ...) form to find its handler in")
    return match.group(1)


def java_option(jpype: Any, value: object) -> Any:
    """A uwsgi.opt value for Java: a String, Boolean.TRUE or an ArrayList of those."""
    if isinstance(value, list):
        items = jpype.JClass("java.util.ArrayList")()
        for item in value:
            items.add(java_option(jpype, item))
        return items
    if value is True:
        return jpype.JClass("java.lang.Boolean").TRUE
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return jpype.JString(text)


def read_exactly(body: BodyReader, length: int) -> bytes:
    parts = []
    while length > 0:
        piece = body.read(length)
        if not piece:
            break
        parts.append(piece)
        length -= len(piece)
    return b"".join(parts)
