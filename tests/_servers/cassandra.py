"""Run a real single-node Apache Cassandra 5.0 on loopback for tests, without Docker.

The server jars come from Maven Central through ``mvn`` and are cached between runs
(see :func:`fetch_jars`). :class:`CassandraNode` then starts ``CassandraDaemon``
directly with ``java`` on free loopback ports, in a fresh temporary folder that
:meth:`CassandraNode.stop` deletes again.

Needs Java 17 and Maven (Debian: ``apt-get install openjdk-17-jre-headless maven``)
and, for the readiness check, ``pip install 'cassandra-driver>=3.29.3'``.

Run ``python tests/_servers/cassandra.py [--auth]`` to fetch the jars, start one node,
print its port, release_version and startup time, and stop it again.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Final, Self

logger = logging.getLogger("nydus.tests")

CASSANDRA_VERSION: Final = "5.0.8"
DEPENDENCY_PLUGIN: Final = (
    "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
)
INSTALL_HINT: Final = (
    "install Java 17 and Maven (Debian: apt-get install openjdk-17-jre-headless maven)"
)
DRIVER_HINT: Final = "pip install 'cassandra-driver>=3.29.3'"
DEFAULT_HEAP: Final = "1g"
LOG_TAIL_LINES: Final = 60

_POM_PATH: Final = Path(__file__).with_name("cassandra_pom.xml")
_COMPLETE_MARKER: Final = "COMPLETE"
_MVN_TIMEOUT_SECONDS: Final = 1800.0
_POLL_INTERVAL_SECONDS: Final = 0.5
_HEAP_PATTERN: Final = re.compile(r"[1-9][0-9]*[kKmMgG]?")

# Module flags from conf/jvm17-server.options in the Apache Cassandra source tree.
# Without them Cassandra 5.0.8 exits at startup with an IllegalAccessException
# in FileUtils. java.base/java.nio is opened too, because GCInspector otherwise
# cannot read java.nio.Bits.TOTAL_CAPACITY and silently omits direct memory.
_JAVA17_EXPORTS: Final = (
    "java.base/jdk.internal.misc",
    "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.rmi/sun.rmi.registry",
    "java.rmi/sun.rmi.server",
    "java.sql/java.sql",
    "java.base/java.lang.ref",
    "jdk.unsupported/sun.misc",
    "jdk.compiler/com.sun.tools.javac.file",
    "jdk.attach/sun.tools.attach",
)
_JAVA17_OPENS: Final = (
    "java.base/java.lang.module",
    "java.base/jdk.internal.loader",
    "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect",
    "java.base/jdk.internal.math",
    "java.base/jdk.internal.module",
    "java.base/jdk.internal.util.jar",
    "jdk.management/com.sun.management.internal",
    "java.base/sun.nio.ch",
    "java.base/java.io",
    "java.base/java.lang.reflect",
    "jdk.compiler/com.sun.tools.javac",
    "java.base/java.lang",
    "java.base/java.util",
    "java.base/java.nio",
)

_LOGBACK_XML: Final = """\
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
"""

# Nodes started and not yet stopped. A plain set (not a WeakSet) keeps a node
# alive until stop(), so the atexit hook also stops nodes the caller dropped.
_running_nodes: set[CassandraNode] = set()


def default_cache_dir() -> Path:
    """Return $NYDUS_TEST_CACHE, or ~/.cache/nydus-tests when it is unset or empty."""
    configured = os.environ.get("NYDUS_TEST_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "nydus-tests"


def fetch_jars(cache_dir: Path | None = None) -> Path:
    """Download cassandra-all and its runtime dependencies unless already cached.

    The jars land in ``<cache_dir>/cassandra-<version>/``, which is returned.
    Maven downloads into a staging folder that is renamed into place only after
    ``copy-dependencies`` succeeded and a marker file was written. A folder
    without the marker is deleted and downloaded again.

    :param cache_dir: parent folder of the version folder; defaults to
        :func:`default_cache_dir`.
    :raises RuntimeError: if a download is needed but ``java`` or ``mvn`` is
        missing, or if Maven fails.
    """
    root = cache_dir if cache_dir is not None else default_cache_dir()
    target = root / f"cassandra-{CASSANDRA_VERSION}"
    if (target / _COMPLETE_MARKER).is_file():
        return target

    find_java()  # Maven needs Java, and so does the server the jars are for.
    mvn = _find_tool("mvn")
    if target.exists():
        logger.warning("deleting incomplete Cassandra jar folder %s", target)
        shutil.rmtree(target)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(root)

    staging = root / f"cassandra-{CASSANDRA_VERSION}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    jars = staging / "jars"
    jars.mkdir(parents=True)
    try:
        _run_maven(mvn, staging, jars)
        (jars / _COMPLETE_MARKER).write_text(f"{CASSANDRA_VERSION}\n")
        _move_into_place(jars, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def find_java() -> str:
    """Return the path of ``$JAVA_HOME/bin/java``, or of ``java`` on PATH.

    :raises RuntimeError: if neither exists.
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return _find_tool("java")


def _find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"'{name}' not found on PATH, but the Cassandra test server needs it: "
            f"{INSTALL_HINT}"
        )
    return path


def _remove_stale_staging(root: Path) -> None:
    """Delete staging folders left behind by fetches whose process has ended."""
    for staging in root.glob(f"cassandra-{CASSANDRA_VERSION}.partial-*"):
        pid_text = staging.name.rpartition("-")[2]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            logger.info("deleting stale staging folder %s", staging)
            shutil.rmtree(staging, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_maven(mvn: str, staging: Path, jars: Path) -> None:
    pom = staging / "pom.xml"
    shutil.copyfile(_POM_PATH, pom)
    command = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        DEPENDENCY_PLUGIN,
        f"-DoutputDirectory={jars}",
        "-DincludeScope=runtime",
        f"-Dcassandra.version={CASSANDRA_VERSION}",
    ]
    logger.info("fetching cassandra-all %s jars with Maven", CASSANDRA_VERSION)
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            cwd=staging,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_MVN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(
            f"Maven timed out after {_MVN_TIMEOUT_SECONDS:.0f} s while fetching "
            f"cassandra-all {CASSANDRA_VERSION}: {' '.join(command)}"
        ) from exc

    if result.returncode != 0:
        output = _tail(result.stdout + result.stderr, LOG_TAIL_LINES)
        raise RuntimeError(
            f"Maven failed with exit code {result.returncode} while fetching "
            f"cassandra-all {CASSANDRA_VERSION}: {' '.join(command)}\n{output}"
        )
    if not (jars / f"cassandra-all-{CASSANDRA_VERSION}.jar").is_file():
        raise RuntimeError(
            f"Maven succeeded but cassandra-all-{CASSANDRA_VERSION}.jar is missing "
            f"from {jars}"
        )
    logger.info(
        "fetched %d jars in %.1f s",
        len(list(jars.glob("*.jar"))),
        time.monotonic() - started,
    )


def _move_into_place(jars: Path, target: Path) -> None:
    try:
        jars.rename(target)
    except OSError:
        # Another process finished the same download first, so keep its copy.
        if not (target / _COMPLETE_MARKER).is_file():
            raise


def _tail(text: str, count: int) -> str:
    return "\n".join(text.splitlines()[-count:])


def _free_loopback_ports(count: int) -> list[int]:
    """Return distinct TCP ports that were free on 127.0.0.1 a moment ago.

    All sockets stay open until every port is chosen, so the ports differ.
    """
    # NOTE: another process can take a port before Cassandra binds it. The start
    # then fails with the bind error in the server output and is not retried.
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _heap_size() -> str:
    heap = os.environ.get("NYDUS_CASSANDRA_HEAP", "").strip() or DEFAULT_HEAP
    if not _HEAP_PATTERN.fullmatch(heap):
        raise RuntimeError(
            f"invalid NYDUS_CASSANDRA_HEAP {heap!r}: expected a JVM size such as "
            "'512m' or '1g'"
        )
    return heap


class CassandraNode:
    """A single Cassandra node on 127.0.0.1, started as a child process.

    After :meth:`start`, ``port`` is the native transport (CQL) port,
    ``storage_port`` the internode port, ``version`` the release_version that the
    node reported, and ``startup_seconds`` the time from launching the JVM until
    the first query succeeded.

    :param auth: enable PasswordAuthenticator with the default superuser
        ``cassandra``/``cassandra``; the readiness check then logs in as that user.
    :param cache_dir: jar cache folder passed to :func:`fetch_jars`.
    """

    host: str
    port: int
    storage_port: int
    version: str
    startup_seconds: float

    def __init__(self, auth: bool = False, cache_dir: Path | None = None) -> None:
        self.auth = auth
        self.cache_dir = cache_dir
        self.host = "127.0.0.1"
        self.port = 0
        self.storage_port = 0
        self.version = CASSANDRA_VERSION
        self.startup_seconds = 0.0
        self.username = "cassandra" if auth else None
        self.password = "cassandra" if auth else None
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    @property
    def log_path(self) -> Path | None:
        """Server output file (stdout and stderr of the JVM), or None when stopped."""
        if self._workdir is None:
            return None
        return self._workdir / "logs" / "output.log"

    def start(self, timeout: float = 180.0) -> None:
        """Start the node and wait until a CQL query on it succeeds.

        :param timeout: seconds to wait for readiness after the JVM was launched.
        :raises RuntimeError: if the node is already running, a tool or the driver
            is missing, or the server exits or is not ready within ``timeout``.
            The message contains the last 60 lines of the server output.
        """
        if self._process is not None:
            raise RuntimeError(f"Cassandra node on port {self.port} already started")
        jar_dir = fetch_jars(self.cache_dir)
        java = find_java()
        heap = _heap_size()
        _import_driver()

        self._workdir = Path(tempfile.mkdtemp(prefix="nydus-cassandra-"))
        try:
            self.port, self.storage_port = _free_loopback_ports(2)
            config = self._write_config_files(self._workdir)
            command = self._java_command(java, jar_dir, config, heap)
            started = time.monotonic()
            self._launch(command)
            self.version = self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        logger.info(
            "Cassandra %s ready on %s:%d after %.1f s (auth=%s)",
            self.version,
            self.host,
            self.port,
            self.startup_seconds,
            self.auth,
        )

    def stop(self, grace: float = 30.0) -> None:
        """Stop the node started by :meth:`start` and delete its temporary folder.

        Sends SIGTERM to the process id that :meth:`start` launched, then SIGKILL
        if it is still running after ``grace`` seconds. Calling it again does
        nothing.
        """
        process = self._process
        if process is not None:
            _terminate(process, grace)
            self._process = None
            _running_nodes.discard(self)
            logger.info("Cassandra on port %d stopped (pid %d)", self.port, process.pid)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_config_files(self, workdir: Path) -> Path:
        data = workdir / "data"
        for name in ("data", "commitlog", "saved_caches", "hints", "cdc_raw"):
            (data / name).mkdir(parents=True)
        (workdir / "logs").mkdir()
        (workdir / "logback.xml").write_text(_LOGBACK_XML)
        config = workdir / "cassandra.yaml"
        config.write_text(self._cassandra_yaml(data))
        return config

    def _cassandra_yaml(self, data: Path) -> str:
        # Cassandra 5.0 rejects unknown keys, so this lists only keys it defines.
        # A fixed token skips token allocation, and auto_snapshot: false skips the
        # snapshot that TRUNCATE and DROP would otherwise write.
        lines = [
            "cluster_name: nydus-test",
            "partitioner: org.apache.cassandra.dht.Murmur3Partitioner",
            "endpoint_snitch: SimpleSnitch",
            "num_tokens: 1",
            "initial_token: 0",
            f"listen_address: {self.host}",
            f"rpc_address: {self.host}",
            f"storage_port: {self.storage_port}",
            f"native_transport_port: {self.port}",
            "start_native_transport: true",
            "seed_provider:",
            "  - class_name: org.apache.cassandra.locator.SimpleSeedProvider",
            "    parameters:",
            f'      - seeds: "{self.host}"',
            "data_file_directories:",
            f"  - {data / 'data'}",
            f"commitlog_directory: {data / 'commitlog'}",
            f"saved_caches_directory: {data / 'saved_caches'}",
            f"hints_directory: {data / 'hints'}",
            f"cdc_raw_directory: {data / 'cdc_raw'}",
            "commitlog_sync: periodic",
            "commitlog_sync_period: 10s",
            "auto_snapshot: false",
        ]
        if self.auth:
            lines.append("authenticator: PasswordAuthenticator")
        return "\n".join(lines) + "\n"

    def _java_command(
        self, java: str, jar_dir: Path, config: Path, heap: str
    ) -> list[str]:
        assert self._workdir is not None
        workdir = self._workdir
        command = [
            java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-Xss256k",
            "-XX:+ExitOnOutOfMemoryError",
            # C1 only: startup took 4.8 instead of 7.0 CPU seconds at the same
            # wall time (median of 3 starts, Cassandra 5.0.8, OpenJDK 17.0.15,
            # 2 cores), at the cost of throughput that tests do not need.
            "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true",
            "-Djdk.attach.allowAttachSelf=true",
            "-Dio.netty.tryReflectionSetAccessible=true",
        ]
        command += [f"--add-exports={name}=ALL-UNNAMED" for name in _JAVA17_EXPORTS]
        command += [f"--add-opens={name}=ALL-UNNAMED" for name in _JAVA17_OPENS]
        command += [
            f"-Dcassandra.config={config.as_uri()}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.storagedir={workdir / 'data'}",
            f"-Dcassandra.logdir={workdir / 'logs'}",
            f"-Dlogback.configurationFile={workdir / 'logback.xml'}",
            # Test-only shortcuts: no wait for gossip on a one-node ring, no
            # blocking flushes of system and schema tables, and no 10 s delay
            # before the default superuser is created.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.unsafesystem=true",
            "-Dcassandra.superuser_setup_delay_ms=0",
            # Shorter shutdown: no 2 s pause after announcing it to (absent) peers,
            # and no wait for the internode messaging to quiesce.
            "-Dcassandra.shutdown_announce_in_ms=0",
            "-Dcassandra.test.messagingService.nonGracefulShutdown=true",
            # chronicle-core 2.23 (audit and full query logging) reads these to
            # skip its startup banner and its usage analytics.
            "-Dchronicle.analytics.disable=true",
            "-Dchronicle.announcer.disable=true",
            "-cp",
            f"{jar_dir}{os.sep}*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]
        return command

    def _launch(self, command: list[str]) -> None:
        log_path = self.log_path
        assert log_path is not None and self._workdir is not None
        with log_path.open("wb") as log_file:
            self._process = subprocess.Popen(
                command,
                cwd=self._workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        _running_nodes.add(self)
        logger.info(
            "started Cassandra pid %d on %s:%d (storage port %d) in %s",
            self._process.pid,
            self.host,
            self.port,
            self.storage_port,
            self._workdir,
        )

    def _wait_until_ready(self, timeout: float) -> str:
        """Poll until a query on the node succeeds and return its release_version."""
        deadline = time.monotonic() + timeout
        last_error = f"port {self.port} not accepting connections"
        while True:
            assert self._process is not None
            exit_code = self._process.poll()
            if exit_code is not None:
                raise RuntimeError(
                    f"Cassandra exited with code {exit_code} before it was ready "
                    f"on port {self.port}; last {LOG_TAIL_LINES} lines of its "
                    f"output:\n{self._log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"Cassandra on port {self.port} was not ready after "
                    f"{timeout:.0f} s (last error: {last_error}); last "
                    f"{LOG_TAIL_LINES} lines of its output:\n{self._log_tail()}"
                )
            if _port_open(self.host, self.port):
                try:
                    return self.query_release_version()
                except Exception as exc:  # noqa: BLE001 - driver errors vary
                    last_error = f"{type(exc).__name__}: {exc}"
                    logger.debug("Cassandra not ready yet: %s", last_error)
            time.sleep(_POLL_INTERVAL_SECONDS)

    def query_release_version(self) -> str:
        """Connect with cassandra-driver and return ``system.local.release_version``.

        Logs in as cassandra/cassandra when the node was created with ``auth=True``.
        """
        driver = _import_driver()
        auth_provider = None
        if self.username is not None and self.password is not None:
            auth_provider = driver.PlainTextAuthProvider(
                username=self.username, password=self.password
            )
        profile = driver.ExecutionProfile(
            load_balancing_policy=driver.DCAwareRoundRobinPolicy(
                local_dc="datacenter1"
            ),
            request_timeout=10,
        )
        # Cassandra 5.0 defaults to native protocol v5. Setting it skips the
        # driver's downgrade attempts and their warnings.
        cluster = driver.Cluster(
            contact_points=[self.host],
            port=self.port,
            protocol_version=5,
            auth_provider=auth_provider,
            execution_profiles={driver.EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=5,
            control_connection_timeout=5,
        )
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
        finally:
            cluster.shutdown()
        if row is None:
            raise RuntimeError("system.local returned no row")
        return str(row.release_version)

    def _log_tail(self) -> str:
        log_path = self.log_path
        if log_path is None or not log_path.is_file():
            return "(no server output)"
        text = log_path.read_text(encoding="utf-8", errors="replace")
        return _tail(text, LOG_TAIL_LINES)


class _Driver:
    """Names from cassandra-driver, imported on first use.

    The import is deferred so that fetching jars works without the driver.
    """

    def __init__(self) -> None:
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy

        self.Cluster = Cluster
        self.ExecutionProfile = ExecutionProfile
        self.EXEC_PROFILE_DEFAULT = EXEC_PROFILE_DEFAULT
        self.PlainTextAuthProvider = PlainTextAuthProvider
        self.DCAwareRoundRobinPolicy = DCAwareRoundRobinPolicy


_driver: _Driver | None = None


def _import_driver() -> _Driver:
    global _driver
    if _driver is None:
        try:
            _driver = _Driver()
        except ImportError as exc:
            raise RuntimeError(
                f"cassandra-driver is missing in {sys.executable}: {DRIVER_HINT}"
            ) from exc
    return _driver


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        logger.warning(
            "Cassandra pid %d still running %.0f s after SIGTERM; sending SIGKILL",
            process.pid,
            grace,
        )
        process.kill()
        process.wait()


@atexit.register
def _stop_running_nodes() -> None:
    # NOTE: atexit does not run when this Python process is killed by a signal,
    # so a SIGKILLed or SIGTERMed test run leaves its Java process behind.
    for node in list(_running_nodes):
        node.stop()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Start a single-node Cassandra on loopback, print its port, "
        "release_version and startup time, and stop it."
    )
    parser.add_argument(
        "--auth",
        action="store_true",
        help="enable PasswordAuthenticator (user cassandra, password cassandra)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the node to become ready (default: 180)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    # Turn SIGTERM into SystemExit so that the finally block below stops the node.
    signal.signal(signal.SIGTERM, _exit_on_signal)

    started = time.monotonic()
    jar_dir = fetch_jars()
    print(f"jars: {jar_dir} ({time.monotonic() - started:.1f} s)")

    node = CassandraNode(auth=args.auth)
    node.start(timeout=args.timeout)
    try:
        print(f"port: {node.port}")
        print(f"release_version: {node.version}")
        print(f"startup seconds: {node.startup_seconds:.1f}")
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    # Python puts this file's folder first on sys.path when it runs as a script,
    # so "import cassandra" would load this module instead of cassandra-driver.
    script_dir = Path(__file__).resolve().parent
    sys.path = [entry for entry in sys.path if Path(entry).resolve() != script_dir]
    sys.exit(main())
