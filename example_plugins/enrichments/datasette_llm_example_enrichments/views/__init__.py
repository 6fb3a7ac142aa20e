"""The plugin's pages. Each view checks permission first and turns every problem into
a message on the page (the detail goes to the log), never a 500.

- ``/<database>/<table>/-/enrich-with-llm``: the form (GET) and starting a job (POST)
- ``/-/llm-enrichments``: jobs (``?database=&table=`` narrows the list)
- ``/-/llm-enrichments/<id>`` and ``.json``: a job's progress
- ``/-/llm-enrichments/<id>/cancel``, ``/resume``, ``/retry``: POST-only actions
"""

from __future__ import annotations

from .form import enrich_form_view
from .jobs import job_action_view, job_view, jobs_view

ROUTES = [
    (r"^/(?P<database>[^/]+)/(?P<table>[^/]+)/-/enrich-with-llm$", enrich_form_view),
    (r"^/-/llm-enrichments$", jobs_view),
    (r"^/-/llm-enrichments/(?P<job_id>[0-9]+)(\.(?P<format>json))?$", job_view),
    (r"^/-/llm-enrichments/(?P<job_id>[0-9]+)/(?P<action>cancel|resume|retry)$", job_action_view),
]

__all__ = ["ROUTES", "enrich_form_view", "job_action_view", "job_view", "jobs_view"]
