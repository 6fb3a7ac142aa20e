import pytest
from datasette.plugins import pm


@pytest.fixture
def register_plugin():
    """Register Datasette plugin objects for one test."""
    names = []

    def register(plugin):
        name = f"test-plugin-{len(names)}-{id(plugin)}"
        pm.register(plugin, name=name)
        names.append(name)
        return plugin

    yield register
    for name in names:
        pm.unregister(name=name)
