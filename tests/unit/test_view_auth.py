"""The Weir view is behind Airflow's auth manager: anonymous requests get 401 (the page redirects to the login),
a JWT issued by the auth manager (header or the UI's ``_token`` cookie) gets the page, a forged one gets 403."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weir.runtime import RuntimeConfig, build_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def auth_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from airflow.api_fastapi.app import create_auth_manager, purge_cached_app

    from weir.airflow.local import AUTH_MANAGER

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", AUTH_MANAGER)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(tmp_path / "passwords.json"))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "weir-unit-test-secret-" + "x" * 48)
    purge_cached_app()
    manager = create_auth_manager()
    manager.init()
    yield manager
    purge_cached_app()


@pytest.fixture()
def client(tmp_path: Path) -> Any:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from weir.airflow.view import create_app

    def config() -> RuntimeConfig:
        return build_config(state_dir=tmp_path / "state", specs_dir=ROOT / "feature_specs")

    root = FastAPI()
    root.mount("/weir", create_app(config, dag_runs=lambda ids: {}))  # mounted like the plugin's app
    return TestClient(root, base_url="http://airflow.test")


def test_anonymous_api_request_gets_401(client: Any, auth_manager: Any) -> None:
    resp = client.get("/weir/api/groups")
    assert resp.status_code == 401
    assert "user_spend" not in resp.text
    resp = client.get("/weir/api/experiments")
    assert resp.status_code == 401 and "repayment_reminder" not in resp.text


def test_anonymous_page_redirects_to_airflow_login(client: Any, auth_manager: Any) -> None:
    resp = client.get("/weir/", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/auth/login")
    assert "weir" in resp.headers["location"]  # back to the view after login
    assert "user_spend" not in resp.text


def test_forged_token_is_rejected(client: Any, auth_manager: Any) -> None:
    resp = client.get("/weir/api/groups", headers={"Authorization": "Bearer not.a.jwt"})
    assert resp.status_code == 403
    resp = client.get("/weir/", cookies={"_token": "not.a.jwt"}, follow_redirects=False)
    assert resp.status_code == 403


def test_token_from_the_auth_manager_opens_the_view(client: Any, auth_manager: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.revoked_token import RevokedToken

    # no metadata database here: the revocation list is empty (the browser test runs against a real one)
    monkeypatch.setattr(RevokedToken, "is_revoked", classmethod(lambda cls, jti, **kw: False))

    token = auth_manager.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    resp = client.get("/weir/api/groups", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert {g["group"] for g in resp.json()["groups"]} >= {"user_spend", "user_repayment", "merchant_risk"}
    client.cookies.set("_token", token)  # what the Airflow UI's pages carry
    page = client.get("/weir/")
    assert page.status_code == 200 and "Weir feature groups" in page.text and "user_spend" in page.text
    assert "Weir experiments" in page.text and "repayment_reminder" in page.text
