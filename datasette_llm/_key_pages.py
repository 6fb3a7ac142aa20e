"""Where to get an API key, for the providers of the common llm plugins: the link
datasette-secrets shows beside each provider's secret on ``/-/secrets``.

Keyed by the models' ``needs_key`` (lower case), as each plugin sets it.
"""

from __future__ import annotations

from typing import NamedTuple, Optional


class KeyPage(NamedTuple):
    url: str
    label: str


KEY_PAGES = {
    "openai": KeyPage("https://platform.openai.com/api-keys", "Get an OpenAI API key"),
    "anthropic": KeyPage(
        "https://console.anthropic.com/settings/keys", "Get an Anthropic API key"
    ),
    "claude": KeyPage(  # llm-claude-3, before llm-anthropic
        "https://console.anthropic.com/settings/keys", "Get an Anthropic API key"
    ),
    "gemini": KeyPage("https://aistudio.google.com/app/apikey", "Get a Gemini API key"),
    "mistral": KeyPage("https://console.mistral.ai/api-keys", "Get a Mistral API key"),
    "groq": KeyPage("https://console.groq.com/keys", "Get a Groq API key"),
    "openrouter": KeyPage("https://openrouter.ai/settings/keys", "Get an OpenRouter API key"),
    "cohere": KeyPage("https://dashboard.cohere.com/api-keys", "Get a Cohere API key"),
    "perplexity": KeyPage(
        "https://www.perplexity.ai/settings/api", "Get a Perplexity API key"
    ),
    "deepseek": KeyPage("https://platform.deepseek.com/api_keys", "Get a DeepSeek API key"),
    "grok": KeyPage("https://console.x.ai/", "Get an xAI API key"),  # llm-grok
    "xai": KeyPage("https://console.x.ai/", "Get an xAI API key"),
    "together": KeyPage(
        "https://api.together.ai/settings/api-keys", "Get a Together AI API key"
    ),
    "cerebras": KeyPage("https://cloud.cerebras.ai/", "Get a Cerebras API key"),
}


def key_page(needs_key: str) -> Optional[KeyPage]:
    return KEY_PAGES.get(needs_key.lower())
