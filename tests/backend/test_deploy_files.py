"""deploy/: Kubernetes manifests valid against the 1.37 schemas and consistent with each other;
alert rules and dashboard queries that name only metrics (and labels) the app really exports.

Docker, Kubernetes and Prometheus cannot run here: the files are parsed and checked instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from backend.config import load_settings
from backend.observability import metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.37.0"


def _docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _manifests() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in _docs(path)]


def _by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in _manifests() if doc["kind"] == kind}


# -- Kubernetes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "doc"), _manifests(), ids=lambda v: v.name if isinstance(v, Path) else v["kind"])
def test_every_manifest_is_valid_against_the_kubernetes_schema(path: Path, doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_manifest_with_a_mistake_is_refused() -> None:
    """The check above can fail: a misspelt field or a wrong type is caught."""
    web = json.loads(json.dumps(_by_kind("Deployment")["deskboard-web"]))
    web["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, K8S_VERSION, strict=True)
    web = json.loads(json.dumps(_by_kind("Deployment")["deskboard-web"]))
    web["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_and_the_image() -> None:
    (kustomization,) = _docs(K8S / "kustomization.yaml")
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    images = {c["image"] for d in _by_kind("Deployment").values() for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {i["name"] for i in kustomization["images"]}


def test_web_feed_and_worker_deployments_probe_health_on_a_declared_port() -> None:
    deployments = _by_kind("Deployment")
    assert set(deployments) == {"deskboard-web", "deskboard-feed", "deskboard-worker"}
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        # Prometheus keeps pods of the deskboard app that ask to be scraped (prometheus.yml).
        assert labels["app.kubernetes.io/part-of"] == "deskboard"
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
        (container,) = spec["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports.values(), name
        for probe in ("livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] == "/health", (name, probe)
            assert get["port"] in ports or get["port"] in ports.values(), (name, probe)
    assert deployments["deskboard-feed"]["spec"]["replicas"] == 1  # one feed, never two
    assert deployments["deskboard-feed"]["spec"]["strategy"]["type"] == "Recreate"


def test_the_service_reaches_the_web_pods() -> None:
    web = _by_kind("Deployment")["deskboard-web"]["spec"]["template"]
    (service,) = _by_kind("Service").values()
    assert service["spec"]["selector"].items() <= web["metadata"]["labels"].items()
    ports = {p["name"] for p in web["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_secrets_come_from_the_secret_and_every_reference_exists() -> None:
    config_maps, claims = _by_kind("ConfigMap"), _by_kind("PersistentVolumeClaim")
    secretish = re.compile(r"SECRET|PASSWORD|TOKEN|DSN|_URL$")
    for name, deployment in _by_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        for env in container.get("env", []):
            if secretish.search(env["name"]):
                ref = env["valueFrom"]["secretKeyRef"]  # never a literal value
                assert ref["name"] == "deskboard-secrets", (name, env["name"])
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in config_maps
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        mounts = {m["name"] for m in container.get("volumeMounts", [])}
        assert mounts <= {v["name"] for v in pod.get("volumes", [])}
    for config in config_maps.values():
        assert not [k for k in config["data"] if secretish.search(k)]


def test_settings_in_the_manifests_are_settings_the_app_reads() -> None:
    from backend import config

    known = set(config.variables()) if hasattr(config, "variables") else None
    ours = {"PROMETHEUS_MULTIPROC_DIR", "DESKBOARD_PROCESS_HTTP_PORT", "DESKBOARD_METRICS_TOKEN",
            "DESKBOARD_LOG_FORMAT", "DESKBOARD_LOG_LEVEL", "DESKBOARD_HOST", "DESKBOARD_PORT"}
    names = set(_by_kind("ConfigMap")["deskboard-config"]["data"])
    for deployment in _by_kind("Deployment").values():
        names |= {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert all(re.fullmatch(r"(DESKBOARD|PROMETHEUS)_[A-Z0-9_]+", n) for n in names)
    if known is not None:
        assert names - known - ours == set()
    # The production values parse as the app's own settings.
    data = _by_kind("ConfigMap")["deskboard-config"]["data"]
    secrets = {"DESKBOARD_SECRET_KEY": "a-long-enough-random-test-secret-0123456789",
               "DESKBOARD_REDIS_URL": "redis://redis:6379/0",
               "DESKBOARD_META_URL": "postgresql+psycopg://deskboard:pw@postgres:5432/deskboard",
               "DESKBOARD_WAREHOUSE_DSN": "http://deskboard:pw@clickhouse:8123/deskboard"}
    environ = {**data, **secrets}
    settings = load_settings(environ) if known is not None else None
    if settings is not None:
        assert str(settings.data_dir) == data["DESKBOARD_DATA_DIR"]


# -- Prometheus and Grafana ----------------------------------------------------------------------------

# PromQL's own words: functions and aggregations (followed by "("), keywords, and series Prometheus makes.
PROMQL_FUNCTIONS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "vector", "scalar", "abs",
    "absent", "absent_over_time", "clamp_min", "clamp_max", "hour", "day_of_week", "time", "label_replace",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "changes", "resets", "round", "sort",
}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                   "group_right"}
PROMETHEUS_SERIES = {"up": {"job", "instance"}}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^}]*)\}")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str) -> dict[str, set[str]]:
    """Every sample name the app exports → its label names, from a scrape of a running app's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    from app import create_app
    from backend.jobs.store import JOBS, JobStore
    from backend.market.service import MarketService
    from backend.meta.models import utc_now
    from backend.observability.install import MARKET_KEY
    from backend.stores import EXTENSION_KEY as STORES_KEY

    settings = load_settings(data_dir=tmp_path_factory.mktemp("deploy-data"), warehouse_dsn=warehouse_url,
                             warehouse_database="deploy_files", demo_rows=0)
    app = create_app(settings, market=False)
    feed = MarketService()
    feed.note_message()  # a feed that has spoken has a lag
    app.server.extensions[MARKET_KEY] = feed
    jobs = JobStore(app.server.extensions[STORES_KEY].meta)
    job = jobs.create(kind="probe", parameters={}, owner="ops", runner="embedded", placement="worker")
    with jobs.meta.write() as conn:
        conn.execute(JOBS.update().where(JOBS.c.id == job.id).values(
            state="FAILED", started_at=utc_now(), finished_at=utc_now()))
    client = app.server.test_client()
    client.get("/health")
    client.post("/_dash-update-component", json={"output": "nothing.children", "outputs": {}, "inputs": []})
    metrics.observe_pivot(0.01, cached=False)
    metrics.observe_cache("pivot:0", hit=True)
    metrics.CALLBACK_ERRORS.labels(callback="<unknown>")  # the series exists (at zero) like any counter
    text = client.get("/metrics").get_data(as_text=True)
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    assert "deskboard_feed_state" in found and "deskboard_job_duration_seconds_bucket" in found
    return found


# Figures every web pod reads from one shared source (the feed's status, the job records): summing
# them over pods would count each once per pod.
SUMMED_SHARED = re.compile(r"\bsum\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(\s*(?:(?:rate|irate|increase)\s*\(\s*)?"
                           r"deskboard_(?:feed_|jobs\b|job_)")


def check_promql(expr: str, exported: dict[str, set[str]]) -> set[str]:
    """The metric names an expression uses; fails on a word that is neither PromQL nor an exported metric,
    a label the metric does not carry, a malformed selector, unbalanced brackets or a shared figure summed."""
    assert not SUMMED_SHARED.search(expr), f"a figure every pod reports alike is summed over pods: {expr!r}"
    assert expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]"), expr
    assert expr.count("{") == expr.count("}"), expr
    used: set[str] = set()
    for match in SELECTOR.finditer(expr):
        metric, body = match.group(1), match.group(2)
        assert metric, f"selector without a metric name in {expr!r}"
        labels = PROMETHEUS_SERIES.get(metric) or exported.get(metric, set())
        rest = body
        while rest.strip():
            m = MATCHER.match(rest)
            assert m, f"malformed matcher {rest!r} in {expr!r}"
            assert m.group(1) in labels, f"{metric} has no label {m.group(1)!r} ({expr!r})"
            if m.group(2) in ("=~", "!~"):
                re.compile(m.group(3))
            rest = rest[m.end():]
            rest = rest.removeprefix(",")
    bare = SELECTOR.sub(lambda m: m.group(1) or "", expr)
    bare = re.sub(r"\[\s*\d+[smhdw]\s*\]", "", bare)
    for m in GROUPING.finditer(bare):
        for label in filter(None, (x.strip() for x in m.group(2).split(","))):
            assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label), expr
    bare = GROUPING.sub(" ", bare)
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare):
        word, after = m.group(0), bare[m.end():].lstrip()
        if re.fullmatch(r"\d*e\d+", word) or word in PROMQL_KEYWORDS:
            continue
        if after.startswith("("):
            assert word in PROMQL_FUNCTIONS, f"unknown function {word!r} in {expr!r}"
            continue
        assert word in exported or word in PROMETHEUS_SERIES, f"{word!r} is not exported by the app ({expr!r})"
        used.add(word)
    assert used, f"{expr!r} names no metric"
    return used


def test_the_promql_check_catches_mistakes(exported) -> None:
    assert check_promql('sum by (route) (rate(deskboard_http_requests_total{status=~"5.."}[5m]))', exported)
    for wrong in (
        "rate(deskboard_http_request_total[5m])",  # misspelt metric
        'rate(deskboard_http_requests_total{stauts="500"}[5m])',  # misspelt label
        "rates(deskboard_http_requests_total[5m])",  # unknown function
        "sum(rate(deskboard_http_requests_total[5m])",  # unbalanced
        "deskboard_jobs{state=FAILED}",  # unquoted value
        "sum(rate(deskboard_feed_messages_total[1m]))",  # each web pod reports the feed's one count
        'sum by (state) (deskboard_jobs{state="QUEUED"})',
    ):
        with pytest.raises(AssertionError):
            check_promql(wrong, exported)


def _rules() -> list[dict]:
    (doc,) = _docs(DEPLOY / "prometheus" / "alerts.yml")
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_are_well_formed_and_cover_latency_errors_and_a_stale_feed(exported) -> None:
    (doc,) = _docs(DEPLOY / "prometheus" / "alerts.yml")
    assert len({g["name"] for g in doc["groups"]}) == len(doc["groups"])
    rules = _rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    used: set[str] = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]
        assert re.fullmatch(r"Deskboard[A-Z][A-Za-z]+", rule["alert"])
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        names = check_promql(rule["expr"], exported)
        used |= names
        # An annotation names only labels the alert's series carry: those an aggregation keeps
        # (named in the expression), or, without one, those of the metric itself.
        aggregated = re.search(r"\b(sum|max|min|avg|count|histogram_quantile)\b", rule["expr"])
        carried = set() if aggregated else set().union(*(PROMETHEUS_SERIES.get(n) or exported[n] for n in names))
        for label in re.findall(r"\$labels\.([a-z_]+)", json.dumps(rule["annotations"])):
            assert label in carried or re.search(rf"\b{label}\b", rule["expr"]), (rule["alert"], label)
    assert {"deskboard_http_request_duration_seconds_bucket", "deskboard_http_requests_total",
            "deskboard_feed_state"} <= used


def test_the_scrape_config_loads_the_rules_and_names_the_job_the_rules_watch() -> None:
    (config,) = _docs(DEPLOY / "prometheus" / "prometheus.yml")
    for rule_file in config["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for rule in _rules():
        for job in re.findall(r'job="([^"]+)"', rule["expr"]):
            assert job in jobs


def test_grafana_dashboard_panels_query_exported_metrics(exported) -> None:
    board = json.loads((DEPLOY / "grafana" / "deskboard.json").read_text())
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    variables = {v["name"] for v in board["templating"]["list"]}
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    queried = 0
    for panel in panels:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"].strip("${}") in variables
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            check_promql(target["expr"], exported)
            queried += 1
    assert queried >= 15


def test_process_metrics_port_matches_the_probes() -> None:
    from backend.observability.process_server import DEFAULT_PORT, PORT_ENV

    data = _by_kind("ConfigMap")["deskboard-config"]["data"]
    assert int(data[PORT_ENV]) == DEFAULT_PORT
    for name in ("deskboard-feed", "deskboard-worker"):
        ports = _by_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert [p["containerPort"] for p in ports] == [DEFAULT_PORT]

