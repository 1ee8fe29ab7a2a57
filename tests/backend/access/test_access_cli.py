"""``python -m backend.access signin-link USER``: a one-time link from the server's shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend.access.accounts import Accounts
from backend.access.audit import Audit
from backend.access.roles import Roles
from backend.config import load_settings
from backend.meta import open_meta

ROOT = Path(__file__).resolve().parents[3]


def _cli(data_dir: Path, *args: str, auth: str = "on") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_") or k.startswith("DESKBOARD_TEST_")}
    env |= {"DESKBOARD_DATA_DIR": str(data_dir), "DESKBOARD_AUTH": auth, "DESKBOARD_PORT": "8123"}
    return subprocess.run([sys.executable, "-m", "backend.access", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _accounts(data_dir: Path) -> Accounts:
    settings = load_settings(data_dir=data_dir, auth="on")
    meta = open_meta(settings.meta_database_url)
    audit = Audit(meta)
    return Accounts(meta, settings.access, Roles(meta, audit), audit)


def test_a_printed_link_signs_the_user_in_once_and_is_audited(tmp_path: Path) -> None:
    accounts = _accounts(tmp_path)
    accounts.create_user("ana", password="a long enough passphrase 42", roles=("analyst",), actor="admin")
    done = _cli(tmp_path, "signin-link", "ana", "--minutes", "5")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith("http://127.0.0.1:8123/signin/link/")
    principal, purpose = accounts.redeem_link(url.rsplit("/", 1)[1])
    assert (principal.id, purpose) == ("ana", "sign_in")
    assert any(entry.actor == "cli" and entry.target == "ana" for entry in accounts.audit.list())


def test_an_unknown_user_or_sign_in_off_is_said_plainly(tmp_path: Path) -> None:
    _accounts(tmp_path)
    done = _cli(tmp_path, "signin-link", "nobody")
    assert done.returncode == 2 and "no link:" in done.stderr and not done.stdout
    assert "Traceback" not in done.stderr
    done = _cli(tmp_path, "signin-link", "admin", auth="off")
    assert done.returncode == 2 and "DESKBOARD_AUTH=off" in done.stderr
    done = _cli(tmp_path, "signin-link", "x" * 5000)
    assert done.returncode == 2 and "Traceback" not in done.stderr
