"""Property-based hostile input over every endpoint in the URL map (hypothesis).

Every form field and query parameter the contract names, plus generic names for the views it
does not (Flask-Admin's own, auth's), gets unicode of every class, NUL bytes, 1 MB strings,
out-of-range numbers, malformed dates, unknown enum values, repeated parameters, SQL and
HTML/JS payloads. Whatever arrives: never a 5xx; a 4xx says what is wrong; markup comes back
escaped; and the users table never holds a value its model would reject.
"""

import re
from urllib.parse import quote

import pytest
from email_validator import EmailNotValidError
from email_validator import validate_email
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter

from dashboard.extensions import db
from dashboard.models import EMAIL_MAX
from dashboard.models import FULL_NAME_MAX
from dashboard.models import ROLES
from dashboard.models import USERNAME_MAX

LIMIT = 1024 * 1024
HUGE = "A" * (LIMIT + 1)
MARKUP = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(document.cookie)>",
    "javascript:alert(1)//<b>x</b>",
    "{{7*7}}<i>{% raw %}",
]
SQL = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "1; SELECT pg_sleep(0)",
    "%' AND 1=1 --",
    "\\",
    "_%",
]
SPECIAL = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "%00",
    "\u202eevil",
    "\ufeff",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "ǅ",
    "İ",
    "ß",
    "٣",
    "\r\n",
    "\t",
    "true",
    "false",
    "yes",
    "on",
    "none",
    "null",
    "admin",
    "superuser",
    "any",
    "-username",
    "--created_at",
    "activate",
    "set_role",
    "delete",
    "matching",
    "all",
]
NUMBERS = [
    "0",
    "-1",
    "1e309",
    "NaN",
    "inf",
    "9" * 40,
    "2147483648",
    "-9223372036854775809",
    "1.5",
    "0x10",
    "٣",
]
DATES = [
    "2026-13-45",
    "2026-02-30",
    "0000-00-00",
    "99999-01-01",
    "2026-1-1",
    "01/02/2026",
    "2026-02-28T00:00",
]

ordinary_values = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),  # every unicode category except surrogates
    st.sampled_from(MARKUP + SQL + SPECIAL + NUMBERS + DATES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(st.characters(codec="utf-8"), min_size=200, max_size=400),
)
# 1 MB values are costly to send, so one form value in 40 is one. Query strings never carry
# them: gunicorn refuses request lines over 4 KB before the app sees them.
form_values = st.integers(0, 39).flatmap(lambda n: st.just(HUGE) if n == 0 else ordinary_values)

LIST_PARAMS = (
    "q",
    "role",
    "active",
    "created_from",
    "created_to",
    "login",
    "login_date",
    "sort",
    "page",
    "page_size",
)
ROW_EDIT = ("full_name", "email", "role", "is_active", "version", "back")
# endpoint -> (query parameter names, form field names), from the contract.
CONTRACT = {
    "user.index_view": (LIST_PARAMS, ()),
    "user.export_view": (LIST_PARAMS, ()),
    "user.row_view": (("back",), ROW_EDIT),
    "user.row_edit_view": (("back",), ()),
    "user.row_delete_confirm_view": (("back",), ()),
    "user.row_save_view": ((), ROW_EDIT),
    "user.row_toggle_view": ((), ("version", "back")),
    "user.row_delete_view": ((), ("version", "back")),
    "user.create_row_view": ((), ("username", "email", "full_name", "role", "is_active")),
    "user.bulk_view": ((), ("action", "role", "ids", "scope", *LIST_PARAMS)),
    "auth.login": (("next",), ("username", "password")),
}
# For every other view: the names such views commonly read.
GENERIC = (
    "id",
    "url",
    "action",
    "rowid",
    "name",
    "query",
    "value",
    "list_form_pk",
    "pk",
    "next",
    "page",
    "sort",
    "search",
    "username",
    "email",
    "full_name",
    "role",
    "is_active",
    "password",
    "current_password",
    "new_password",
    "confirm",
)
SKIPPED = {"static", "admin.static", "auth.logout"}  # files; signing the fuzzing client out


def fuzz_settings(examples: int):
    return settings(
        max_examples=examples,
        derandomize=True,  # the same examples every run: the suite must not be flaky
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture
def fuzz(app, make_user, admin_client):
    """The signed-in admin client, a few users to aim at, and the app's URL map."""
    targets = [make_user(role).id for role in ("member", "member", "viewer", "editor")]
    token = re.search(
        r'name="csrf-token" content="([^"]+)"', admin_client.get("/admin/").get_data(as_text=True)
    )
    admin_client.csrf = token.group(1)
    admin_client.targets = [*targets, admin_client.user.id]
    return admin_client


def rules_of(app, endpoints=None):
    """(rule, method) pairs to fuzz: the given endpoints, or every non-contract one."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED:
            continue
        if endpoints is not None and rule.endpoint not in endpoints:
            continue
        if endpoints is None and rule.endpoint in CONTRACT:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule, method))
    return found


@st.composite
def parameters(draw, names, values):
    """A MultiDict over some of these names: each absent, once, or repeated."""
    chosen = MultiDict()
    for name in names:
        count = draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))
        for _ in range(count):
            chosen.add(name, draw(values))
    return chosen


def path_for(rule, draw, targets) -> str:
    """The rule's URL with its variables filled: real ids, absent ids, huge ids, odd strings."""
    path = rule.rule
    for argument in rule.arguments:
        if isinstance(rule._converters.get(argument), IntegerConverter):
            value = str(draw(st.one_of(st.sampled_from(targets), st.integers(0, 2**80))))
        else:
            value = quote(draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)), safe="")
        path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", value, path)
    return path


def assert_answer_is_sound(response, sent: MultiDict) -> None:
    """No 5xx; a 4xx explains itself; no submitted markup comes back unescaped."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:1000]
    if 400 <= response.status_code < 500:
        assert body.strip(), f"{response.status_code} with an empty body"
        assert "Traceback" not in body
    if response.mimetype == "text/html":
        for value in sent.values():
            if value in MARKUP:
                assert value not in body, f"unescaped markup in the answer: {value!r}"


def model_rejects(row) -> str | None:
    """Why the users model would refuse this stored row, or None."""
    username, email, full_name, role = row.username, row.email, row.full_name, row.role
    checks = {
        "username length": 0 < len(username) <= USERNAME_MAX,
        "username lower-case and trimmed": username == username.strip().lower(),
        "email length": 0 < len(email) <= EMAIL_MAX,
        "email lower-case": email == email.lower(),
        "full name length": 0 < len(full_name) <= FULL_NAME_MAX,
        "full name trimmed": full_name == full_name.strip(),
        "role": role in ROLES,
        "no control characters": not any(ch in f"{username}{email}{full_name}" for ch in "\x00\r\n\t"),
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        return f"{failed} in {tuple(row)!r}"
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return f"email {email!r}: {error}"
    return None


def assert_users_table_valid(app) -> None:
    with app.app_context():
        rows = db.session.execute(text("SELECT id, username, email, full_name, role FROM users")).all()
        db.session.rollback()
    problems = [problem for problem in map(model_rejects, rows) if problem]
    assert not problems, problems


def send(client, rule, method, query: MultiDict, form: MultiDict, path: str, htmx: bool):
    headers = {"X-CSRFToken": client.csrf}
    if htmx:
        headers["HX-Request"] = "true"
    if method == "GET":
        return client.get(path, query_string=query, headers=headers)
    return client.open(path, method=method, query_string=query, data=form, headers=headers)


def run_example(fuzz, app, data, pairs, names_of):
    rule, method = data.draw(st.sampled_from(pairs), label="rule")
    query_names, form_names = names_of(rule)
    query = data.draw(parameters(query_names, ordinary_values), label="query")
    form = data.draw(parameters(form_names, form_values), label="form") if method != "GET" else MultiDict()
    path = path_for(rule, data.draw, fuzz.targets)
    htmx = data.draw(st.booleans(), label="htmx")
    response = send(fuzz, rule, method, query, form, path, htmx)
    sent = MultiDict([*query.items(multi=True), *form.items(multi=True)])
    assert_answer_is_sound(response, sent)
    assert_users_table_valid(app)


@pytest.mark.parametrize("endpoint", sorted(CONTRACT))
def test_contract_endpoints_survive_hostile_input(app, fuzz, endpoint):
    pairs = rules_of(app, {endpoint})
    assert pairs, f"{endpoint} is not in the URL map"

    @fuzz_settings(examples=15)
    @given(data=st.data())
    def check(data):
        run_example(fuzz, app, data, pairs, lambda rule: CONTRACT[rule.endpoint])

    check()


def test_every_other_endpoint_survives_hostile_input(app, fuzz):
    pairs = rules_of(app)
    assert pairs

    @fuzz_settings(examples=40)
    @given(data=st.data())
    def check(data):
        run_example(fuzz, app, data, pairs, lambda rule: (GENERIC, GENERIC))

    check()


def test_oversized_writes_are_refused_with_413_on_every_write_endpoint(app, fuzz):
    """Bodies over MAX_CONTENT_LENGTH: 413 with a clear message and nothing written."""
    for rule, method in rules_of(app, None) + rules_of(app, set(CONTRACT)):
        if method == "GET":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?\w+>", str(fuzz.targets[0]), rule.rule)
        with app.app_context():
            before = db.session.execute(text("SELECT * FROM users ORDER BY id")).all()
            db.session.rollback()
        response = fuzz.open(
            path, method=method, data={"full_name": HUGE}, headers={"X-CSRFToken": fuzz.csrf}
        )
        assert response.status_code == 413, (rule.rule, response.status_code)
        assert "larger than the 1,024 KB this server accepts" in response.get_data(as_text=True)
        with app.app_context():
            assert db.session.execute(text("SELECT * FROM users ORDER BY id")).all() == before
            db.session.rollback()
