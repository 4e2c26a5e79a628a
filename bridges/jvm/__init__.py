"""The JVM: JWSGI and Clojure/Ring apps in each worker's JVM through JPype, and the Java glue.

The runtime's declaration is here; its serving code (adapter.py) is imported only for a config
naming one of its apps (polyhost.catalog).
"""

from __future__ import annotations

from polyhost.catalog import Declaration

#: the JDK the JVM runtime compiles its Java glue with
JDK_PACKAGE = "openjdk-17-jdk-headless"


class JvmDeclaration(Declaration):
    """What the JVM runtime is; `adapter.JvmRuntime` serves its apps."""

    name = "jvm"
    language = "JVM"
    interface = "JWSGI/Ring"
    modifier1 = 8
    modifier2 = (0, 1)  # JWSGI, Ring
    app_options = ("jwsgi", "ring-app")
    suffixes = (".clj", ".jar")
    debian_packages = (JDK_PACKAGE, "clojure")
    pypi_packages = ("JPype1",)
    serving = "polyhost.bridges.jvm.adapter:JvmRuntime"

    @classmethod
    def claims(cls, target: str) -> bool:
        """A .clj or .jar file, or a JWSGI `Class:method` (the class name capitalised)."""
        klass, colon, _ = target.partition(":")
        return super().claims(target) or bool(colon and klass.rpartition(".")[2][:1].isupper())
