"""Fixtures for this plugin's tests: a news database, a Datasette running the plugin
(through datasette-llm's ``datasette_llm_config`` fixture) and plugin registration."""

from __future__ import annotations

import sqlite3

import pytest
from datasette.plugins import pm
from enrichments_testing import ARTICLES, PLUGIN, ROOT_WRITES


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "news.db"
    conn = sqlite3.connect(path)
    conn.execute("create table articles (id integer primary key, title text, body text)")
    conn.executemany("insert into articles values (?, ?, ?)", ARTICLES)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def make_datasette(datasette_llm_config, db_path):
    """``await make_datasette(llm_config, plugin_config, permissions=..., **kwargs)``:
    a started Datasette on news.db with this plugin, root allowed to write."""

    async def make(
        llm_config=None, plugin_config=None, permissions=ROOT_WRITES, files=(), **kwargs
    ):
        return await datasette_llm_config(
            llm_config if llm_config is not None else {"default_model": "echo"},
            plugins={PLUGIN: plugin_config or {}},
            files=[str(db_path), *map(str, files)],
            permissions=permissions,
            **kwargs,
        )

    return make


@pytest.fixture
def register_plugin():
    """Register Datasette plugin objects (hook implementations) for one test."""
    names = []

    def register(plugin):
        name = f"enrichments-test-plugin-{len(names)}"
        plugin.__name__ = name  # Datasette 0.65's plugin listing reads __name__
        pm.register(plugin, name=name)
        names.append(name)
        return plugin

    yield register
    for name in names:
        pm.unregister(name=name)
