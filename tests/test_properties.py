"""Property-based tests: model() never hands out what models() would not list, and
every invalid config is rejected with a path."""

import asyncio

import pytest
from datasette import hookimpl
from datasette.plugins import pm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasette_llm import LLM, ConfigError, ModelNotFoundError
from datasette_llm._config import parse_config
from datasette_llm.testing import FakeModel, fake_models, fake_secrets

MODEL_IDS = ["p-1", "p-2", "p-3", "k-1", "k-2"]
KEYED = {"k-1": "prov-one", "k-2": "prov-two"}
PURPOSES = ["alpha", "beta"]
SECRET_NAMES = ["S_ONE", "S_TWO"]
ACTORS = [None, {"id": "anon-ish"}, {"id": "alice"}, {"id": "bob"}]

model_ids = st.sampled_from(MODEL_IDS + ["not-installed"])
model_refs = st.one_of(
    model_ids,
    st.fixed_dictionaries({"model": model_ids}, optional={"key": st.sampled_from(SECRET_NAMES)}),
)
purpose_configs = st.fixed_dictionaries(
    {},
    optional={
        "model": model_refs,
        "models": st.lists(model_refs, max_size=4),
        "blocked_models": st.lists(model_ids, max_size=3),
    },
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "default_model": model_refs,
        "models": st.lists(model_ids, max_size=4),
        "blocked_models": st.lists(model_ids, max_size=3),
        "require_keys": st.booleans(),
        "purposes": st.dictionaries(st.sampled_from(PURPOSES), purpose_configs, max_size=2),
    },
)
secret_values = st.fixed_dictionaries(
    {
        name: st.one_of(st.none(), st.just(f"sk-{name.lower()}"))
        for name in SECRET_NAMES + ["PROV-ONE_API_KEY", "PROV-TWO_API_KEY"]
    }
)


class ActorFilter:
    """Keeps a model for an actor depending on a generated table of (actor, model) pairs."""

    def __init__(self, denied):
        self.denied = denied

    @hookimpl
    def llm_filter_models(self, models, actor):
        actor_id = actor["id"] if actor else None
        return [m for m in models if (actor_id, m.model_id) not in self.denied]


class WholeListFilter:
    """Decides on the list as a whole, per actor: the first model, the last, every other
    one, nothing when more than two are offered, or no say."""

    RULES = {
        "first": lambda models: models[:1],
        "last": lambda models: models[-1:],
        "every other": lambda models: models[::2],
        "at most two": lambda models: models if len(models) <= 2 else [],
        "no say": lambda models: None,
    }

    def __init__(self, rules):
        self.rules = rules  # actor ID -> a key of RULES

    @hookimpl
    def llm_filter_models(self, models, actor):
        rule = self.rules.get(actor["id"] if actor else None, "no say")
        return self.RULES[rule](models)


class PreferenceHook:
    def __init__(self, preferences):
        self.preferences = preferences

    @hookimpl
    def llm_default_model(self, actor):
        return self.preferences.get(actor["id"] if actor else None)


actor_ids = st.sampled_from([None, "anon-ish", "alice", "bob"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs,
    secrets=secret_values,
    denied=st.sets(st.tuples(actor_ids, st.sampled_from(MODEL_IDS)), max_size=6),
    preferences=st.dictionaries(actor_ids, model_ids, max_size=3),
    whole_list_rules=st.dictionaries(actor_ids, st.sampled_from(sorted(WholeListFilter.RULES))),
)
def test_model_never_hands_out_what_models_would_not_list(
    config, secrets, denied, preferences, whole_list_rules
):
    parse_config(config)  # every generated config is valid
    asyncio.run(_check_enforcement(config, secrets, denied, preferences, whole_list_rules))


async def _check_enforcement(config, secrets, denied, preferences, whole_list_rules):
    from datasette_test import Datasette

    fakes = [FakeModel(i, needs_key=KEYED.get(i)) for i in MODEL_IDS]
    plugins = [ActorFilter(denied), WholeListFilter(whole_list_rules), PreferenceHook(preferences)]
    names = [f"property-plugin-{n}" for n in range(len(plugins))]
    for plugin, name in zip(plugins, names):
        plugin.__name__ = name  # Datasette 0.65's plugin listing reads __name__
        pm.register(plugin, name=name)
    try:
        with fake_models(*fakes), fake_secrets(secrets):
            ds = Datasette(memory=True, plugin_config={"datasette-llm": config})
            llm = LLM(ds)
            for actor in ACTORS:
                for purpose in PURPOSES + [None]:
                    listed = [m.model_id for m in await llm.models(actor=actor, purpose=purpose)]
                    assert len(listed) == len(set(listed))
                    # The /-/llm page's explanation agrees with the listing
                    explanation = await llm._explain(actor=actor, purpose=purpose)
                    explained = [v.model.model_id for v in explanation.verdicts if v.refusal is None]
                    assert explained == listed
                    refused = {v.model.model_id for v in explanation.verdicts if v.refusal}
                    assert refused.isdisjoint(listed)
                    for model_id in MODEL_IDS:
                        try:
                            await llm.model(model_id, purpose=purpose, actor=actor)
                            handed_out = True
                        except ModelNotFoundError:
                            handed_out = False
                        assert handed_out == (model_id in listed), (model_id, actor, purpose, listed)
                    try:
                        default = await llm.model(purpose=purpose, actor=actor)
                    except ModelNotFoundError:
                        assert explanation.default is None
                    else:
                        assert explanation.default.model_id == default.model_id
                        assert default.model_id in listed
                        # the effective default is listed first
                        assert listed[0] == default.model_id
    finally:
        for name in names:
            pm.unregister(name=name)


# Invalid configs: build a valid config and break one value; the error names its path.

ROOT = "plugins.datasette-llm"


@st.composite
def broken_configs(draw):
    config = draw(configs)
    try:
        parse_config(config)
    except ConfigError:
        config = {}
    config = {k: v for k, v in config.items()}
    targets = [
        ("require_keys", f"{ROOT}.require_keys", st.sampled_from([1, "true", [True]])),
        ("models", f"{ROOT}.models", st.sampled_from(["p-1", 3, {"model": "p-1"}])),
        ("blocked_models", f"{ROOT}.blocked_models", st.sampled_from(["p-1", {"a": 1}])),
        ("default_model", f"{ROOT}.default_model", st.sampled_from([3, [], {"key": "K"}, {"model": 5}, {"model": "a", "key": 7}, {"model": "a", "nope": 1}, ""])),
        ("purposes", f"{ROOT}.purposes", st.sampled_from([["alpha"], "alpha", 3])),
        ("unknown_key", f"{ROOT}.unknown_key", st.just(1)),
    ]
    key, path, values = draw(st.sampled_from(targets))
    value = draw(values)
    if key in ("models", "blocked_models") and isinstance(value, dict):
        index = len(config.get(key) or [])
        config[key] = list(config.get(key) or []) + [value]
        path = f"{path}[{index}]"
    elif key == "purposes" and draw(st.booleans()):
        purpose = draw(st.sampled_from(PURPOSES))
        sub_key, sub_value = draw(
            st.sampled_from(
                [
                    ("models", "p-1"),
                    ("models", [3]),
                    ("blocked_models", [{"model": "x"}]),
                    ("model", 4),
                    ("modle", "p-1"),
                ]
            )
        )
        config["purposes"] = {purpose: {sub_key: sub_value}}
        path = f"{ROOT}.purposes.{purpose}.{sub_key}"
    else:
        config[key] = value
    return config, path


@settings(max_examples=200, deadline=None)
@given(broken=broken_configs())
def test_invalid_config_rejected_with_path(broken):
    config, path = broken
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    assert str(info.value).startswith(info.value.path + ": ")
    assert info.value.path.startswith(path), (info.value.path, path)
