"""Reading the kind of a CQL statement from its text, for routing checks."""

from __future__ import annotations

import re
from typing import Any, Final

from cassandra.query import BatchStatement, BoundStatement

#: First words of statements that change rows: ``BEGIN`` opens a batch.
WRITE_VERBS: Final = frozenset({"INSERT", "UPDATE", "DELETE", "BEGIN"})

# Whitespace and comments (--, // and /* */) before the first word.
_LEADING: Final = re.compile(r"(?:\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_WORD: Final = re.compile(r"[A-Za-z]+")


def statement_text(statement: Any) -> str | None:
    """Return the CQL text of a statement, or ``None`` if it has none.

    Accepts a string, a ``SimpleStatement``, a ``PreparedStatement`` or a
    ``BoundStatement``. A ``BatchStatement`` returns ``'BEGIN BATCH'``.
    """
    if isinstance(statement, str):
        return statement
    if isinstance(statement, BatchStatement):
        return "BEGIN BATCH"
    if isinstance(statement, BoundStatement):
        statement = statement.prepared_statement
    text = getattr(statement, "query_string", None)
    return text if isinstance(text, str) else None


def statement_verb(statement: Any) -> str:
    """Return the first word of a statement in upper case, such as ``INSERT``."""
    text = statement_text(statement)
    if text is None:
        return ""
    start = _LEADING.match(text)
    word = _WORD.match(text, start.end() if start else 0)
    return word.group(0).upper() if word else ""


def is_write(statement: Any) -> bool:
    """Return whether a statement inserts, updates or deletes rows."""
    return statement_verb(statement) in WRITE_VERBS
