"""The conftest datasette-llm-limits' tests import but its sdist leaves out.

Copied over the unpacked sdist by testing/downstream.py. Three of its test files call
``make_datasette(limits=...)`` (expecting ``(datasette, accountant)``) and import ``usd``
from here; this is the smallest version of both that matches how they are used.
"""

import pytest
from datasette.app import Datasette
from datasette_llm_accountant import Nanocents
from datasette_llm_limits.accountant import LimitsAccountant


def usd(amount):
    return Nanocents.from_usd(amount)


@pytest.fixture
def make_datasette():
    async def make(limits=None):
        datasette = Datasette(
            memory=True,
            config={"plugins": {"datasette-llm-limits": {"limits": limits or {}}}},
        )
        await datasette.invoke_startup()
        return datasette, LimitsAccountant(datasette)

    return make
