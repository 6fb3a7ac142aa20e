"""Prompt templates: ``Summarise {title}: {body}``, one ``{column}`` per value of the row.

``{{`` and ``}}`` stand for literal braces. Anything between braces is a column name,
taken as written (spaces and punctuation included), so no column name needs escaping.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    """The template cannot be used; the message says why."""


class PromptTemplate:
    """A parsed template: ``.columns`` it names (in order, once each), ``.render(row)``."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text.strip():
            raise TemplateError("The prompt template is empty")
        self.text = text
        self._parts: list[tuple[str, bool]] = []  # (literal text or column name, is_column)
        position = 0
        for match in _TOKEN.finditer(text):
            self._literal(text[position : match.start()])
            token = match.group(0)
            if token in ("{{", "}}"):
                self._literal(token[0])
            elif match.group(1) is None:
                raise TemplateError(
                    f"Unmatched {token!r} at character {match.start() + 1} of the prompt "
                    "template: write {{ or }} for a literal brace"
                )
            elif not match.group(1).strip():
                raise TemplateError(
                    f"Empty placeholder {{}} at character {match.start() + 1} of the prompt "
                    "template: put a column name between the braces"
                )
            else:
                self._parts.append((match.group(1), True))
            position = match.end()
        self._literal(text[position:])
        self.columns = list(dict.fromkeys(part for part, is_column in self._parts if is_column))
        if not self.columns:
            raise TemplateError(
                "The prompt template names no column: put {column} where each row's value goes"
            )

    def _literal(self, text: str) -> None:
        if text:
            self._parts.append((text, False))

    def check_columns(self, table: str, columns: Iterable[str]) -> None:
        """Raise ``TemplateError`` naming the placeholders that are not columns of ``table``."""
        known = list(columns)
        unknown = [column for column in self.columns if column not in known]
        if unknown:
            names = ", ".join("{" + column + "}" for column in unknown)
            what = "which is not a column" if len(unknown) == 1 else "which are not columns"
            raise TemplateError(
                f"The prompt template names {names}, {what} of {table}; "
                f"its columns are: {', '.join(known)}"
            )

    def render(self, row: Mapping) -> str:
        """The prompt for one row: each placeholder replaced by the row's value
        (an empty string for NULL)."""
        return "".join(
            ("" if row[part] is None else str(row[part])) if is_column else part
            for part, is_column in self._parts
        )
