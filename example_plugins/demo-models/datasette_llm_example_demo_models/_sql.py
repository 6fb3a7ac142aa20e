"""How ``demo-sql`` answers: a SQLite ``SELECT`` for a question, written by simple rules
from the ``CREATE TABLE``/``CREATE VIEW`` statements found in its prompt.

The rules, in order:

- the table is the one the question names (``articles``, ``article``, ``user roles`` for
  ``user_roles``); when it names none, the first table of the schema;
- "how many", "count" or "number of" make it ``select count(*)``;
- ``<column> = <value>`` or ``<column> is <value>`` (a column of that table) adds
  ``where <column> = <value>``;
- "top N", "first N" or "N highest/lowest ..." add ``limit N``; "by <column>" or
  "highest/lowest <column>" add ``order by <column>`` (descending unless the question
  says lowest, smallest, fewest, oldest, shortest or least);
- otherwise every row of the table: ``select * from <table>``.

The query is checked against the schema (``explain`` in an in-memory copy) before it is
given, so it always runs on the database the schema came from.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Optional

_CREATE = re.compile(r"\bcreate\s+(?:temp(?:orary)?\s+)?(?:table|view)\b", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n\s*\n")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Every SQLite keyword (sqlite.org/lang_keywords.html): a name that is one is quoted
_KEYWORDS = frozenset(
    "abort action add after all alter always analyze and as asc attach autoincrement "
    "before begin between by cascade case cast check collate column commit conflict "
    "constraint create cross current current_date current_time current_timestamp "
    "database default deferrable deferred delete desc detach distinct do drop each else "
    "end escape except exclude exclusive exists explain fail filter first following for "
    "foreign from full generated glob group groups having if ignore immediate in index "
    "indexed initially inner insert instead intersect into is isnull join key last left "
    "like limit match materialized natural no not nothing notnull null nulls of offset on "
    "or order others outer over partition plan pragma preceding primary query raise range "
    "recursive references regexp reindex release rename replace restrict returning right "
    "rollback row rows savepoint select set table temp temporary then ties to transaction "
    "trigger unbounded union unique update using vacuum values view virtual when where "
    "window with without".split()
)
_COUNT = re.compile(r"\b(how many|count|number of)\b", re.IGNORECASE)
_ASCENDING = re.compile(
    r"\b(lowest|smallest|fewest|oldest|shortest|least|cheapest|ascending)\b", re.IGNORECASE
)
_SUPERLATIVE = (
    r"(?:highest|largest|biggest|most|latest|newest|longest|greatest|"
    r"lowest|smallest|fewest|oldest|shortest|least|cheapest)"
)
_LIMIT = re.compile(rf"\b(?:top|first)\s+(\d+)\b|\b(\d+)\s+{_SUPERLATIVE}\b", re.IGNORECASE)
_VALUE = r"(\"[^\"]*\"|'[^']*'|[^\s,;?!]+)"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass
class Table:
    name: str
    columns: list = field(default_factory=list)


@dataclass
class Query:
    """What the rules made of a question."""

    table: Optional[Table]
    sql: str
    explanation: str


def quote(name: str) -> str:
    """``name`` as a SQLite identifier: bare when that is safe, double-quoted otherwise."""
    if _PLAIN_NAME.fullmatch(name) and name.lower() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL literal for a value from the question: a number stays a number."""
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value.replace("'", "''") + "'"


def create_statements(text: str) -> list:
    """The ``CREATE TABLE``/``CREATE VIEW`` statements in ``text``, in order. A statement
    ends at the ``;`` that completes it, or (with no ``;``) at the next blank line."""
    statements = []
    position = 0
    while True:
        match = _CREATE.search(text, position)
        if match is None:
            return statements
        end = _statement_end(text, match.start())
        statements.append(text[match.start() : end].strip())
        position = end


def _statement_end(text: str, start: int) -> int:
    semicolon = text.find(";", start)
    while semicolon != -1:
        if sqlite3.complete_statement(text[start : semicolon + 1]):
            return semicolon + 1
        semicolon = text.find(";", semicolon + 1)
    blank = _BLANK_LINE.search(text, start)
    return blank.start() if blank else len(text)


def _schema_database(statements: list) -> sqlite3.Connection:
    """An in-memory database with every statement that SQLite accepts."""
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        try:
            conn.execute(statement)
        except sqlite3.Error:
            continue  # not valid SQLite, or a view of a table we were not shown
    return conn


def _tables(conn: sqlite3.Connection) -> list:
    tables = []
    names = conn.execute(
        "select name from sqlite_master where type in ('table', 'view') "
        "and name not like 'sqlite_%' order by rowid"
    ).fetchall()
    for (name,) in names:
        try:
            columns = [
                row[0] for row in conn.execute("select name from pragma_table_info(?)", [name])
            ]
        except sqlite3.Error:
            continue
        tables.append(Table(name, columns))
    return tables


def _normal(text: str) -> str:
    """Lower case, runs of anything but letters and digits as one space, padded."""
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() + " "


def _forms(name: str) -> set:
    """How a question may spell a table or column name: ``user_roles`` is also
    ``user roles``, ``user role``; ``category`` also ``categories``."""
    base = _normal(name).strip()
    forms = {base, base + "s"}
    if base.endswith("ies"):
        forms.add(base[:-3] + "y")
    elif base.endswith("s"):
        forms.add(base[:-1])
    if base.endswith("y"):
        forms.add(base[:-1] + "ies")
    return {form for form in forms if form}


def _mentions(question: str, name: str) -> int:
    """The length of the longest form of ``name`` the question mentions, or 0."""
    normal = _normal(question)
    return max((len(form) for form in _forms(name) if f" {form} " in normal), default=0)


def _named_table(question: str, tables: list) -> Optional[Table]:
    best, best_length = None, 0
    for table in tables:
        length = _mentions(question, table.name)
        if length > best_length:
            best, best_length = table, length
    return best


def _column_pattern(column: str) -> str:
    parts = [re.escape(part) for part in re.split(r"[\s_]+", column) if part]
    return r"[\s_]+".join(parts)


def _where(question: str, table: Table) -> Optional[tuple]:
    """``(column, value)`` for ``<column> = <value>`` or ``<column> is <value>``."""
    for column in sorted(table.columns, key=len, reverse=True):
        if not _column_pattern(column):
            continue
        match = re.search(
            rf"\b{_column_pattern(column)}\s*(?:==?|\bis\b|\bequals\b)\s*{_VALUE}",
            question,
            re.IGNORECASE,
        )
        if match:
            value = match.group(1)
            if value[0] in "'\"" and value[-1] == value[0] and len(value) > 1:
                value = value[1:-1]
            else:
                value = value.rstrip(".")
            return column, value
    return None


def _order_column(question: str, table: Table) -> Optional[str]:
    for column in sorted(table.columns, key=len, reverse=True):
        pattern = _column_pattern(column)
        if pattern and re.search(
            rf"\b(?:by|{_SUPERLATIVE})\s+{pattern}\b", question, re.IGNORECASE
        ):
            return column
    return None


def write_query(question: str, schema: str) -> Query:
    """The query for ``question`` over the tables ``schema``'s statements create."""
    conn = _schema_database(create_statements(schema))
    try:
        tables = _tables(conn)
        if not tables:
            return Query(
                None,
                "select name from sqlite_master where type = 'table' order by name",
                "I was given no database schema, so this lists the database's tables.",
            )
        table = _named_table(question, tables)
        note = ""
        if table is None:
            table = tables[0]
            names = ", ".join(t.name for t in tables)
            note = f"Your question names none of the tables ({names}), so I used {table.name}. "
        query = _build(question, table)
        try:
            conn.execute("explain " + query.sql)
        except sqlite3.Error:
            query = Query(
                table, f"select * from {quote(table.name)}", f"This lists the rows of {table.name}."
            )
        query.explanation = note + query.explanation
        return query
    finally:
        conn.close()


def _build(question: str, table: Table) -> Query:
    sql_where, said_where = "", ""
    condition = _where(question, table)
    if condition:
        column, value = condition
        sql_where = f" where {quote(column)} = {literal(value)}"
        said_where = f" where {column} is {value}"
    name = quote(table.name)
    if _COUNT.search(question):
        return Query(
            table,
            f"select count(*) from {name}{sql_where}",
            f"This counts the rows of {table.name}{said_where}.",
        )
    limit_match = _LIMIT.search(question)
    limit = int(limit_match.group(1) or limit_match.group(2)) if limit_match else None
    order = _order_column(question, table)
    sql = f"select * from {name}{sql_where}"
    said = f"This lists the rows of {table.name}{said_where}"
    if order:
        descending = not _ASCENDING.search(question)
        sql += f" order by {quote(order)}" + (" desc" if descending else "")
        said += f", ordered by {order}, {'highest' if descending else 'lowest'} first"
    if limit is not None:
        sql += f" limit {limit}"
        said = said.replace("the rows", f"the first {limit} rows", 1)
    return Query(table, sql, said + ".")


def answer(question: str, schema: str) -> str:
    """demo-sql's whole answer: one sentence, then the query in a fenced ``sql`` block."""
    query = write_query(question, schema)
    return f"{query.explanation}\n\n```sql\n{query.sql}\n```"


def remove_statements(text: str) -> str:
    """``text`` without its ``CREATE`` statements: the question, when a prompt holds both."""
    for statement in create_statements(text):
        text = text.replace(statement, " ", 1)
    return text.strip()
