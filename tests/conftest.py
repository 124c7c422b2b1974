"""Fixtures shared by every distribution's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def placement_vectors() -> dict[str, Any]:
    """Keys and the hosts Nydus 0.11 on Python 2.7 sent them to."""
    with (DATA / "nydus-0.11-placement.json").open(encoding="utf-8") as stream:
        data: dict[str, Any] = json.load(stream)
    return data


def vector_key(case: dict[str, Any]) -> str | bytes | int:
    """Return the key of one placement case in its Python type."""
    if case["kind"] == "bytes_hex":
        return bytes.fromhex(case["key"])
    key: str | int = case["key"]
    return key
