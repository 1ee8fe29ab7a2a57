"""Helpers for the observability tests: read a /metrics scrape back into numbers."""

from __future__ import annotations

import json
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

LATENCY = "deskboard_http_request_duration_seconds"


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """Every sample of one ``GET /metrics``, keyed by (sample name, labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.data[:200]
    return parse(response.get_data(as_text=True))


def parse(text: str | bytes) -> dict[tuple[str, frozenset], float]:
    if isinstance(text, bytes):
        text = text.decode()
    samples: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Mapping[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """A sample's value (0 when the series does not exist yet: counters start at zero)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Mapping[tuple[str, frozenset], float]) -> set[str]:
    return {name for name, _ in samples}


def label_values(samples: Mapping[tuple[str, frozenset], float], name: str, label: str) -> set[str]:
    return {dict(labels)[label] for sample, labels in samples if sample == name and label in dict(labels)}


def dash_update(client, output: str, outputs, value_: object = 1, request_id: str | None = None):
    body = {"output": output, "outputs": outputs, "inputs": [{"id": "go", "property": "n_clicks", "value": value_}],
            "changedPropIds": ["go.n_clicks"], "state": []}
    headers = {"X-Request-ID": request_id} if request_id else {}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers)
