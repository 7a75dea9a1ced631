"""The app served for real: gunicorn, `make run`, and a browser loading the pages."""

import os
import re
import signal
import subprocess
import urllib.request

import pytest

from tests.conftest import PASSWORD
from tests.support.ports import free_port
from tests.support.ports import wait_for_port
from tests.support.server import ROOT


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.mark.server
def test_gunicorn_serves_the_login_page(live_server):
    status, body = fetch(f"{live_server}/login")
    assert status == 200
    assert "Log in" in body and 'name="username"' in body


@pytest.mark.server
@pytest.mark.browser
def test_browser_signs_in_and_sees_the_dashboard(live_server, page, make_user):
    make_user("admin", username="root")
    page.goto(f"{live_server}/admin/")
    assert "/login" in page.url
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    assert page.get_by_role("link", name="Manage users").is_visible()


@pytest.mark.server
@pytest.mark.slow
def test_make_run_serves_the_demo(tmp_path):
    """`make run` on an empty database: migrates, prints a demo password, serves, signs in."""
    port = free_port()
    env = {**os.environ, "DASHBOARD_INSTANCE_PATH": str(tmp_path), "PORT": str(port)}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = ""
        for line in process.stdout:
            output += line
            if "password:" in line:
                break
        password = output.split("password:")[1].split()[0]
        wait_for_port(port, timeout=60, process=process)
        status, body = fetch(f"http://127.0.0.1:{port}/login")
        assert status == 200 and "Log in" in body
        assert (tmp_path / "dashboard.db").exists()
        assert len(password) >= 12 and password != PASSWORD
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        process.stdout.close()
