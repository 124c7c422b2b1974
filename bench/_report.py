"""The Markdown report of a benchmark run, and the machine it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench._harness import Section, Table

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "redis",
    "hiredis",
    "uhashring",
    "cassandra-driver",
    "nydus-core",
    "nydus-routers",
    "nydus-redis",
    "nydus-pycassa",
)


@dataclass
class Machine:
    """Facts about the machine and software that the figures depend on."""

    cpu: str
    cores: int
    python: str
    redis_server: str
    cassandra: str
    packages: dict[str, str]
    commit: str
    load_before: str
    load_after: str = ""
    extra: list[str] = field(default_factory=list)


def cpu_model() -> str:
    """Return the CPU's model name, family model number, clock and hypervisor."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                name, _, value = line.partition(":")
                fields.setdefault(name.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    model = fields.get("model name", platform.machine())
    details = []
    if "model" in fields:
        details.append(f"model {fields['model']}")
    if "cpu MHz" in fields:
        details.append(f"{float(fields['cpu MHz']):,.0f} MHz")
    if "hypervisor" in fields.get("flags", "").split():
        details.append("virtual machine")
    return f"{model} ({', '.join(details)})" if details else model


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """Return the checked-out commit, marked when the work tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} with uncommitted changes" if status else commit


def render(sections: list[Section], machine: Machine, command: str) -> str:
    """Return the whole report as Markdown."""
    lines = [
        "# Benchmarks",
        "",
        "Nydus measured against the clients a user would pick instead, on the "
        "same local servers in one run. Every figure is a median over rounds, "
        "and the sides of each comparison run interleaved (see each "
        "benchmark's method), so that load from other processes on the "
        "machine costs each side about the same. IQR is the interquartile "
        "range of the rounds as a share of the median. Load from other "
        "processes still moves the figures, so a ratio close to its target "
        "can fall on either side of it from one full run to the next. Read "
        "each verdict with the IQR of its rows and with the notes under its "
        "benchmark, which say what limits it.",
        "",
        "Regenerate this page with:",
        "",
        "```",
        command,
        "```",
        "",
        "`--tiny` runs every benchmark at small sizes to prove that it works, "
        "and does not write this page.",
        "",
        "## Targets",
        "",
        "| benchmark | target | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for section in sections:
        for target in section.targets:
            lines.append(
                f"| [{section.number}](#{_anchor(section)}) | {target.text} | "
                f"{target.measured} | {target.verdict} |"
            )
    unmet = [
        section for section in sections if any(t.met is False for t in section.targets)
    ]
    if unmet:
        lines += [
            "",
            "Each benchmark with a target not met says below its tables what "
            "limits it, with the measurement or profile that shows it.",
        ]
    lines += ["", *_machine_lines(machine)]
    for section in sections:
        lines += ["", *_section_lines(section)]
    return "\n".join(lines) + "\n"


def _machine_lines(machine: Machine) -> list[str]:
    rows = [
        ("CPU", machine.cpu),
        ("cores", str(machine.cores)),
        ("Python", machine.python),
        ("redis-server", machine.redis_server),
        ("Cassandra", machine.cassandra),
        *((name, version) for name, version in machine.packages.items()),
        ("hook plugins", "autoloading off (`NYDUS_DISABLE_PLUGIN_AUTOLOAD=1`)"),
        ("commit", machine.commit),
        ("load average before (1, 5, 15 min)", machine.load_before),
        ("load average after", machine.load_after),
    ]
    lines = ["## Machine", "", "| | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += [f"\n{line}" for line in machine.extra]
    return lines


def _anchor(section: Section) -> str:
    """Return the link anchor that Markdown renderers give a section heading."""
    heading = f"{section.number}. {section.title}".lower()
    kept = "".join(c for c in heading if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _section_lines(section: Section) -> list[str]:
    lines = [f"## {section.number}. {section.title}", "", section.method]
    if section.skipped is not None:
        return [*lines, "", f"**Not run:** {section.skipped}"]
    for table in section.tables:
        lines += ["", *_table_lines(table)]
    if section.targets:
        lines += ["", "Targets:", ""]
        lines += [
            f"- {target.text}: {target.measured}, {target.verdict}."
            for target in section.targets
        ]
    for note in section.notes:
        lines += ["", note]
    return lines


def _table_lines(table: Table) -> list[str]:
    lines = []
    if table.caption:
        lines += [f"*{table.caption}*", ""]
    lines.append("| " + " | ".join(table.header) + " |")
    lines.append("| " + " | ".join("---" for _ in table.header) + " |")
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return lines


def render_text(sections: list[Section]) -> str:
    """Return a short plain-text summary for the terminal."""
    lines = []
    for section in sections:
        lines.append(f"{section.number}. {section.title}")
        if section.skipped is not None:
            lines.append(f"   not run: {section.skipped}")
            continue
        for table in section.tables:
            lines.append("   " + " | ".join(table.header))
            lines += ["   " + " | ".join(row) for row in table.rows]
        lines += [
            f"   target: {target.text}: {target.measured}, {target.verdict}"
            for target in section.targets
        ]
        lines += ["   " + line for note in section.notes for line in note.splitlines()]
    return "\n".join(lines)
