"""A job does what its kind does: submitting one needs ``jobs.run`` and the kind's own permission,
through the API and through a page's job control alike (the kind comes from the browser)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.access.permissions import JOBS_RUN
from backend.access.policy import JOB_KINDS, may_run_job
from backend.access.principal import Principal
from backend.jobs import KINDS
from backend.warehouse import Warehouse
from tests.backend.access.guard_support import PASSWORD, build_app, make_users, services, sign_in, user_of


def test_every_job_kind_declares_its_permission() -> None:
    assert set(KINDS) <= set(JOB_KINDS), f"declare a permission for {sorted(set(KINDS) - set(JOB_KINDS))}"


@pytest.mark.parametrize("kind", ["backup", "probe", "no-such-kind", None, 7, "x" * 5000])
def test_jobs_run_alone_runs_no_kind_that_needs_more(kind: object) -> None:
    only_jobs = Principal(id="j", permissions=frozenset({JOBS_RUN}))
    assert not may_run_job(only_jobs, kind)


@pytest.fixture
def app(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse):
    app = build_app(tmp_path / "data", warehouse_url, loaded_warehouse.database)
    make_users(app)
    services(app).roles.create("batch", [JOBS_RUN], "runs jobs, exports nothing", actor="admin-user")
    services(app).accounts.create_user("bob", password=PASSWORD, roles=("batch",), actor="bob")
    return app


def _submit(app, user: str, kind: str):
    client = app.server.test_client()
    raw, _ = services(app).tokens.create(user, "jobs")
    return client.post("/api/v1/jobs", json={"kind": kind, "parameters": {}},
                       headers={"Authorization": f"Bearer {raw}"})


@pytest.mark.parametrize(("user", "kind", "allowed"), [
    (user_of("analyst"), "backup", False),
    (user_of("trader"), "backup", False),
    ("bob", "trades_csv", False),
    (user_of("admin"), "probe", True),
])
def test_the_api_refuses_a_kind_the_caller_may_not_run_and_queues_nothing(app, user: str, kind: str,
                                                                          allowed: bool) -> None:
    jobs_before = len(app.server.extensions["deskboard.jobs"].list())
    answer = _submit(app, user, kind)
    if allowed:
        assert answer.status_code == 202, answer.get_json()
    else:
        assert answer.status_code == 403 and kind in answer.get_json()["error"]
        assert len(app.server.extensions["deskboard.jobs"].list()) == jobs_before


def test_a_forged_job_control_request_for_a_backup_is_refused(app) -> None:
    """The pivot page's job control names its kind in the browser: an analyst who changes it to
    "backup" gets a notice and no job."""
    client = app.server.test_client()
    assert sign_in(client, user_of("analyst")).status_code in (302, 303)
    client.get("/pivot")
    entry = next(e for e in app.callback_map.values()
                 if '"part":"request"' in e["inputs"][0]["id"].replace(" ", "") if e.get("inputs"))
    body = {"output": next(k for k, v in app.callback_map.items() if v is entry),
            "outputs": [{"id": {"aio_id": "pivot-trades", "component": "job-progress", "part": "job"},
                         "property": "data"},
                        {"id": {"aio_id": "pivot-trades", "component": "job-progress", "part": "error"},
                         "property": "children"}],
            "inputs": [{"id": {"aio_id": "pivot-trades", "component": "job-progress", "part": "request"},
                        "property": "data", "value": {"kind": "backup", "parameters": {}, "n": 1}}],
            "state": [], "changedPropIds": ['{"aio_id":"pivot-trades","component":"job-progress","part":"request"}.data']}
    cookie = client.get_cookie("_csrf_token")
    answer = client.post("/_dash-update-component", json=body,
                         headers={"X-CSRFToken": cookie.value if cookie else ""})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert "may not run" in answer.get_data(as_text=True)
    assert app.server.extensions["deskboard.jobs"].list() == []
