"""Start a real nginx (Debian's) on a loopback port in front of polyhost, for the tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from conftest import free_port, wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    def __init__(self, tmp: Path, locations: str) -> None:
        self.port = free_port()
        self.dir = tmp / f"nginx-{self.port}"
        (self.dir / "logs").mkdir(parents=True)
        conf = self.dir / "nginx.conf"
        user = "user root root;" if os.geteuid() == 0 else ""
        conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  include /etc/nginx/uwsgi_params;
  server {{
    listen 127.0.0.1:{self.port};
    {locations}
  }}
}}
""")
        self.proc = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for(self._up, 10, "nginx to listen")

    def _up(self) -> bool:
        import socket

        if self.proc.poll() is not None:
            raise AssertionError(f"nginx failed: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def error_log(self) -> str:
        return (self.dir / "logs" / "error.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
