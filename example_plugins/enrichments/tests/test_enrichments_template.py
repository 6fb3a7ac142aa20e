"""Prompt templates: ``{column}`` placeholders, ``{{``/``}}`` escapes, clear errors."""

import pytest
from datasette_llm_example_enrichments._template import PromptTemplate, TemplateError


def test_placeholders_are_replaced_by_the_row_values():
    template = PromptTemplate("Summarise {title}:\n{body} ({title})")
    assert template.columns == ["title", "body"]
    assert template.render({"title": "Pelicans", "body": "They are back"}) == (
        "Summarise Pelicans:\nThey are back (Pelicans)"
    )


def test_null_is_empty_and_other_values_are_text():
    template = PromptTemplate("[{a}] [{b}] [{c}]")
    assert template.render({"a": None, "b": 3, "c": 1.5}) == "[] [3] [1.5]"


def test_column_names_are_taken_as_written():
    template = PromptTemplate("{first name} {price:usd} {a.b} {x!r}")
    assert template.columns == ["first name", "price:usd", "a.b", "x!r"]
    row = {"first name": "Ada", "price:usd": 3, "a.b": "dot", "x!r": "bang"}
    assert template.render(row) == "Ada 3 dot bang"


def test_doubled_braces_are_literal():
    template = PromptTemplate('Answer as JSON {{"summary": ...}} about {body}')
    assert template.columns == ["body"]
    assert template.render({"body": "cats"}) == 'Answer as JSON {"summary": ...} about cats'


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "The prompt template is empty"),
        ("   \n", "The prompt template is empty"),
        ("No placeholder at all", "names no column: put {column} where"),
        ("Only {{escaped}}", "names no column"),
        ("Open {body", "Unmatched '{' at character 6"),
        ("Close body}", "Unmatched '}' at character 11"),
        ("Empty {} here", "Empty placeholder {} at character 7"),
        ("Blank { } here", "Empty placeholder {} at character 7"),
    ],
)
def test_unusable_templates_say_why(text, message):
    with pytest.raises(TemplateError) as error:
        PromptTemplate(text)
    assert message in str(error.value)


def test_unknown_columns_are_named_with_the_table_columns():
    template = PromptTemplate("{title} {nope} {also}")
    with pytest.raises(TemplateError) as error:
        template.check_columns("articles", ["id", "title", "body"])
    assert str(error.value) == (
        "The prompt template names {nope}, {also}, which are not columns of articles; "
        "its columns are: id, title, body"
    )
    PromptTemplate("{title}").check_columns("articles", ["id", "title"])  # no error
