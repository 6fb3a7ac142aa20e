"""The rows a job covers, read and written.

Which rows: the filters of the table page the user came from (its query string, carried
by the table action link), applied by Datasette's own table JSON API, fetched as the
actor, so every filter the table page understands (column filters, ``_where``,
``_search``, filters added by plugins) selects the same rows here, and the actor reads
only what they may see. The job records the rows' primary keys when it starts; each row
is read again from the table just before it is prompted, and its answer written back
to it by primary key.
"""

from __future__ import annotations

import urllib.parse
from typing import Optional

from datasette.utils import escape_sqlite

from ._compat import COUNT_QUERYSTRING, count_and_description
from ._database import select

# Table page arguments that choose rows; every other argument starting with "_" only
# changes how the page looks (sorting, paging, facets, shapes) and is dropped.
ROW_CHOOSING_ARGUMENTS = ("_where", "_search", "_through", "_fts_table", "_fts_pk")


class RowsError(Exception):
    """The table's rows could not be read; the message says why."""


def filter_querystring(query_string: str) -> str:
    """The arguments of a table page's query string that choose rows."""
    pairs = urllib.parse.parse_qsl(query_string or "", keep_blank_values=True)
    return urllib.parse.urlencode(
        [
            (key, value)
            for key, value in pairs
            if not key.startswith("_")
            or key in ROW_CHOOSING_ARGUMENTS
            or key.startswith("_search_")
        ]
    )


def skip_filled_querystring(querystring: str, output_column: str) -> str:
    """``querystring`` narrowed to rows whose ``output_column`` is empty."""
    extra = urllib.parse.urlencode([(f"{output_column}__isblank", "1")])
    return f"{querystring}&{extra}" if querystring else extra


def actor_cookies(datasette, actor: Optional[dict]) -> dict:
    """Cookies that make an internal request as ``actor``."""
    return {"ds_actor": datasette.sign({"a": actor}, "actor")} if actor else {}


async def _table_json(datasette, database: str, table: str, querystring: str, actor) -> dict:
    url = datasette.urls.table(database, table, format="json") + "?" + querystring
    response = await datasette.client.get(url, cookies=actor_cookies(datasette, actor))
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code != 200 or data.get("ok") is False:
        raise RowsError(
            f"Could not read the rows of {table} ({response.status_code}): "
            f"{data.get('error') or response.text[:200]}"
        )
    return data


async def count_rows(
    datasette, database: str, table: str, querystring: str, actor
) -> tuple[Optional[int], str]:
    """How many rows ``querystring`` selects, and its filters in words."""
    data = await _table_json(
        datasette, database, table, _join(querystring, COUNT_QUERYSTRING), actor
    )
    return count_and_description(data)


async def collect_row_keys(
    datasette, database: str, table: str, querystring: str, primary_keys: list, actor
) -> list:
    """The primary keys of every row ``querystring`` selects, in the table's order,
    a page of the table JSON API at a time."""
    keys = []
    base = _join(querystring, "_shape=objects&_size=max&_nofacet=1&_nocount=1&_labels=off")
    next_token = None
    while True:
        page = base + ("&" + urllib.parse.urlencode({"_next": next_token}) if next_token else "")
        data = await _table_json(datasette, database, table, page, actor)
        keys.extend([row[key] for key in primary_keys] for row in data["rows"])
        next_token = data.get("next")
        if not next_token:
            return keys


def _join(querystring: str, extra: str) -> str:
    return f"{querystring}&{extra}" if querystring else extra


def _key_condition(primary_keys: list, count: int) -> str:
    """SQL matching ``count`` row keys, ``?`` placeholders for their values in order."""
    if len(primary_keys) == 1:
        return f"{escape_sqlite(primary_keys[0])} in ({', '.join('?' * count)})"
    columns = ", ".join(escape_sqlite(key) for key in primary_keys)
    one = "(" + ", ".join("?" * len(primary_keys)) + ")"
    return f"({columns}) in (values {', '.join([one] * count)})"


async def read_rows(db, table: str, primary_keys: list, columns: list, keys: list) -> dict:
    """The ``columns`` of the rows with these keys, as dicts by key tuple (rows that no
    longer exist are missing)."""
    if not keys:
        return {}
    selected = list(dict.fromkeys(primary_keys + columns))
    sql = (
        f"select {', '.join(escape_sqlite(c) for c in selected)} from {escape_sqlite(table)} "
        f"where {_key_condition(primary_keys, len(keys))}"
    )
    rows = await select(db, sql, [value for key in keys for value in key])
    return {tuple(row[key] for key in primary_keys): row for row in rows}


async def write_answers(db, table: str, primary_keys: list, column: str, answers: list):
    """Write ``(key, answer)`` pairs to their rows, in one transaction."""
    where = " and ".join(f"{escape_sqlite(k)} = ?" for k in primary_keys)
    await db.execute_write_many(
        f"update {escape_sqlite(table)} set {escape_sqlite(column)} = ? where {where}",
        [[answer, *key] for key, answer in answers],
    )


async def add_text_column(db, table: str, column: str) -> None:
    await db.execute_write(
        f"alter table {escape_sqlite(table)} add column {escape_sqlite(column)} text"
    )
