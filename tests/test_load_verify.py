"""The load checker itself: it must catch a lost write, a stale overwrite and a non-409 refusal.

Without these, a load run that checked nothing would pass just the same.
"""

import json

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from tests.support.load import Attempt
from tests.support.load import LoadResult
from tests.support.load import form_fields
from tests.support.load import verify


@pytest.fixture
def target(database_url, make_user):
    """A member at version 1 named 'Start'."""
    return make_user("member", full_name="Start")


def record_history(database_url, user_id: int, names: list[str], stored: str | None = None) -> None:
    """Write a chain of full-name changes to the audit log and the row, as the app would."""
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as connection:
        previous = "Start"
        for name in names:
            changes = json.dumps({"full_name": {"before": previous, "after": name}})
            connection.execute(
                text(
                    "INSERT INTO audit_entries (at, action, target_type, target_id, changes)"
                    " VALUES (CURRENT_TIMESTAMP, 'update', 'user', :id, :c)"
                ),
                {"id": user_id, "c": changes},
            )
            previous = name
        connection.execute(
            text("UPDATE users SET full_name = :n, version = :v WHERE id = :id"),
            {"n": stored or previous, "v": 1 + len(names), "id": user_id},
        )
    engine.dispose()


def run_of(*attempts: Attempt) -> LoadResult:
    result = LoadResult(attempts=list(attempts), duration=1.0)
    for attempt in attempts:
        if attempt.status is not None:
            result.statuses[attempt.status] += 1
    return result


def test_a_consistent_run_passes(database_url, target):
    record_history(database_url, target.id, ["A", "B"])
    result = run_of(
        Attempt(0, target.id, 1, "A", 200, new_version=2),
        Attempt(1, target.id, 1, "X", 409),
        Attempt(1, target.id, 2, "B", 200, new_version=3),
    )
    verdict = verify(database_url, result, {target.id: ("Start", 1)})
    assert verdict.problems() == []
    assert (verdict.acknowledged, verdict.conflicts) == (2, 1)


def test_an_acknowledged_write_missing_from_the_database_is_lost(database_url, target):
    record_history(database_url, target.id, ["A"])
    result = run_of(
        Attempt(0, target.id, 1, "A", 200, new_version=2),
        Attempt(1, target.id, 2, "B", 200, new_version=3),  # acknowledged, never stored
    )
    verdict = verify(database_url, result, {target.id: ("Start", 1)})
    assert any("'B'" in problem for problem in verdict.lost)


def test_a_row_that_disagrees_with_its_audit_chain_is_lost(database_url, target):
    record_history(database_url, target.id, ["A"], stored="Something else")
    verdict = verify(database_url, run_of(Attempt(0, target.id, 1, "A", 200)), {target.id: ("Start", 1)})
    assert verdict.lost


def test_a_write_sent_with_an_old_version_is_a_stale_overwrite(database_url, target):
    record_history(database_url, target.id, ["A", "B"])
    result = run_of(
        Attempt(0, target.id, 1, "A", 200, new_version=2),
        Attempt(1, target.id, 1, "B", 200, new_version=3),  # saw version 1, replaced version 2
    )
    verdict = verify(database_url, result, {target.id: ("Start", 1)})
    assert any("sent with version 1" in problem for problem in verdict.stale)


def test_a_refused_write_that_still_landed_is_caught(database_url, target):
    record_history(database_url, target.id, ["X"])
    verdict = verify(database_url, run_of(Attempt(0, target.id, 1, "X", 409)), {target.id: ("Start", 1)})
    assert verdict.stale


def test_a_refusal_other_than_409_is_reported(database_url, target):
    verdict = verify(database_url, run_of(Attempt(0, target.id, 1, "A", 422)), {target.id: ("Start", 1)})
    assert verdict.refused_not_409 == [f"user {target.id}: 422"]


def test_form_fields_reads_what_a_browser_would_submit():
    html = (
        '<tr id="user-3" data-version="7"><td><input name="full_name" value="A &amp; B">'
        '<select name="role"><option value="member">m</option><option value="viewer" selected>v</option>'
        '</select><input type="checkbox" name="is_active" value="true" checked>'
        '<input type="checkbox" name="other" value="x"><input type="hidden" name="version" value="7">'
        '<button type="submit" name="go">Save</button></td></tr>'
    )
    values, version = form_fields(html)
    assert values == {"full_name": "A & B", "role": "viewer", "is_active": "true", "version": "7"}
    assert version == "7"
