"""Realistic, deterministic demo users, inserted fast enough for a million rows.

A large seed on SQLite is one transaction that sets the search index's triggers and the
secondary indexes aside, bulk-inserts, then rebuilds the indexes and the FTS5 table in one pass
each (far cheaper than maintaining them row by row) and puts the triggers back; a crash midway
rolls all of it back. On PostgreSQL rows go in through COPY. Small seeds insert with the
triggers and indexes in place.
"""

import base64
import os
import random
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy import func
from sqlalchemy import select

from .extensions import db
from .models import User
from .models import utcnow

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Dorothy",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Edward",
    "Rebecca",
    "Jason",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Anna",
    "Stephen",
    "Brenda",
    "Larry",
    "Pamela",
    "Justin",
    "Emma",
    "Scott",
    "Nicole",
    "Brandon",
    "Helen",
    "Benjamin",
    "Samantha",
    "Samuel",
    "Katherine",
    "Gregory",
    "Christine",
    "Alexander",
    "Debra",
    "Frank",
    "Rachel",
    "Patrick",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Catherine",
    "Dennis",
    "Maria",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Ruth",
    "Jose",
    "Julie",
    "Adam",
    "Olivia",
    "Nathan",
    "Joyce",
    "Henry",
    "Virginia",
    "Douglas",
    "Victoria",
    "Zachary",
    "Kelly",
    "Peter",
    "Lauren",
    "Kyle",
    "Christina",
    "Ethan",
    "Joan",
    "Walter",
    "Evelyn",
    "Noah",
    "Judith",
    "Jeremy",
    "Megan",
    "Christian",
    "Andrea",
    "Keith",
    "Cheryl",
    "Roger",
    "Hannah",
    "Terry",
    "Jacqueline",
    "Gerald",
    "Martha",
    "Harold",
    "Gloria",
    "Sean",
    "Teresa",
    "Austin",
    "Ann",
    "Carl",
    "Sara",
    "Arthur",
    "Madison",
    "Lawrence",
    "Frances",
    "Dylan",
    "Kathryn",
    "Jesse",
    "Janice",
    "Jordan",
    "Jean",
    "Bryan",
    "Abigail",
    "Billy",
    "Alice",
    "Joe",
    "Judy",
    "Bruce",
    "Sophia",
    "Gabriel",
    "Grace",
    "Logan",
    "Denise",
    "Albert",
    "Amber",
    "Willie",
    "Doris",
    "Alan",
    "Marilyn",
    "Juan",
    "Danielle",
    "Wayne",
    "Beverly",
    "Elijah",
    "Isabella",
    "Randy",
    "Theresa",
    "Roy",
    "Diana",
    "Vincent",
    "Natalie",
    "Ralph",
    "Brittany",
    "Eugene",
    "Charlotte",
    "Russell",
    "Marie",
    "Bobby",
    "Kayla",
    "Mason",
    "Alexis",
    "Philip",
    "Lori",
    "Louis",
    "Ingrid",
    "Søren",
    "Zoë",
    "José",
    "Chloé",
    "Björn",
    "Aiko",
    "Wei",
    "Priya",
    "Mateo",
    "Amara",
    "Yusuf",
    "Leilani",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Gonzales",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tran",
    "Medina",
    "Aguilar",
    "Stevens",
    "Murray",
    "Ford",
    "Castro",
    "Marshall",
    "Owens",
    "Harrison",
    "Fernandez",
    "McDonald",
    "Woods",
    "Washington",
    "Kennedy",
    "Wells",
    "Vargas",
    "Henry",
    "Chen",
    "Freeman",
    "Webb",
    "Tucker",
    "Guzman",
    "Burns",
    "Crawford",
    "Olson",
    "Simpson",
    "Porter",
    "Hunter",
    "Gordon",
    "Mendez",
    "Silva",
    "Shaw",
    "Snyder",
    "Mason",
    "Dixon",
    "Munoz",
    "Hunt",
    "Hicks",
    "Holmes",
    "Palmer",
    "Wagner",
    "Black",
    "Robertson",
    "Boyd",
    "Rose",
    "Stone",
    "Salazar",
    "Fox",
    "Warren",
    "Mills",
    "Meyer",
    "Rice",
    "Schmidt",
    "Garza",
    "Daniels",
    "Ferguson",
    "Nichols",
    "Stephens",
    "Soto",
    "Weaver",
    "Ryan",
    "Gardner",
    "Payne",
    "Grant",
    "Dunn",
    "Kelley",
    "Spencer",
    "Hawkins",
    "Arnold",
    "Pierce",
    "Vazquez",
    "Hansen",
    "Peters",
    "Santos",
    "Hart",
    "Bradley",
    "Knight",
]
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "corp.example")
ROLE_WEIGHTS = (("member", 70), ("viewer", 10), ("editor", 17), ("admin", 3))
COLUMNS = (
    "username",
    "email",
    "full_name",
    "role",
    "is_active",
    "session_token",
    "created_at",
    "updated_at",
    "last_login_at",
    "version",
)
BATCH = 20_000
BULK_MIN = 10_000  # from this many rows (and at least the table's size) the bulk path pays off
BULK_CACHE_KIB = 1_048_576  # page cache for one bulk seed: the indexes are built in memory
TOKEN_BYTES = 18  # as secrets.token_urlsafe(24) would draw
TOKEN_CHARS = 24


def _slug(name: str) -> str:
    """An ASCII-ish lower-case handle for a name (keeps non-ASCII letters as they are)."""
    return name.lower().replace(" ", "")


def generate(start: int, count: int, seed: int = 42) -> Iterator[tuple]:
    """Yield `count` user rows numbered from `start`; the same arguments give the same rows.

    Session tokens are random (not part of the determinism): fresh os.urandom bytes per row.
    """
    rng = random.Random(f"{seed}:{start}")
    roles = [role for role, weight in ROLE_WEIGHTS for _ in range(weight)]
    firsts = [(name, _slug(name)) for name in FIRST_NAMES]
    lasts = [(name, _slug(name)) for name in LAST_NAMES]
    now = utcnow().replace(microsecond=0)
    five_years = 5 * 365 * 24 * 3600
    choice = rng.choice
    randrange = rng.randrange
    random_ = rng.random
    second = timedelta(seconds=1)
    tokens = ""
    position = 0
    for number in range(start, start + count):
        if position >= len(tokens):  # 18 random bytes are exactly 24 url-safe base64 characters
            tokens = base64.urlsafe_b64encode(os.urandom(TOKEN_BYTES * BATCH)).decode()
            position = 0
        token = tokens[position : position + TOKEN_CHARS]
        position += TOKEN_CHARS
        first, first_slug = choice(firsts)
        last, last_slug = choice(lasts)
        handle = f"{first_slug}.{last_slug}{number}"
        age = randrange(five_years)
        created = now - age * second
        last_login = None
        if random_() < 0.7:
            last_login = created + randrange(age + 1) * second
        yield (
            handle,
            f"{handle}@{choice(DOMAINS)}",
            f"{first} {last}",
            choice(roles),
            random_() < 0.88,
            token,
            created,
            created,
            last_login,
            1,
        )


def _sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite DateTime stores it (so text comparisons line up)."""
    if value is None:
        return None
    return value.isoformat(" ", "microseconds")


def _for_sqlite(rows: Iterator[tuple]) -> Iterator[tuple]:
    for row in rows:
        yield (*row[:6], _sqlite_datetime(row[6]), _sqlite_datetime(row[7]), _sqlite_datetime(row[8]), 1)


def insert_rows(connection: Connection, rows: Iterator[tuple]) -> int:
    """Insert rows in batches, skipping any whose username or email is already taken."""
    sqlite = connection.dialect.name == "sqlite"
    columns = ", ".join(COLUMNS)
    marks = ", ".join("?" if sqlite else "%s" for _ in COLUMNS)
    sql = f"INSERT INTO users ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    if sqlite:
        rows = _for_sqlite(rows)
    inserted = 0
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            inserted += _insert_batch(connection, sql, batch)
            batch = []
    if batch:
        inserted += _insert_batch(connection, sql, batch)
    return inserted


def _insert_batch(connection: Connection, sql: str, batch: list[tuple]) -> int:
    """executemany one batch and count what landed."""
    cursor = connection.connection.driver_connection.cursor()
    cursor.executemany(sql, batch)
    count = cursor.rowcount if cursor.rowcount is not None and cursor.rowcount >= 0 else len(batch)
    cursor.close()
    return count


def bulk_insert_sqlite(connection: Connection, rows: Iterator[tuple]) -> int:
    """Insert many rows with the users table's triggers and secondary indexes set aside.

    Runs inside the caller's transaction: the DDL is transactional in SQLite, so the triggers and
    indexes are back (and the FTS5 table rebuilt) before anything commits.
    """
    raw = connection.connection.driver_connection
    saved_cache = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        objects = raw.execute(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE tbl_name = 'users' AND type IN ('trigger', 'index') AND sql IS NOT NULL"
        ).fetchall()
        for kind, name, _sql in objects:
            raw.execute(f'DROP {kind.upper()} "{name}"')
        inserted = insert_rows(connection, rows)
        for kind, _name, sql in sorted(objects, key=lambda o: o[0] != "index"):  # indexes first
            if kind == "index":
                raw.execute(sql)
        if raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'users_fts'").fetchone():
            raw.execute("INSERT INTO users_fts(users_fts) VALUES ('rebuild')")
        for kind, _name, sql in objects:
            if kind == "trigger":
                raw.execute(sql)
    finally:
        raw.execute(f"PRAGMA cache_size = {saved_cache}")
    return inserted


PG_SECONDARY_INDEXES = (
    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
    "WHERE t.relname = 'users' AND t.relnamespace = to_regnamespace(current_schema()) "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
)


def copy_postgresql(connection: Connection, rows: Iterator[tuple], bulk: bool) -> int:
    """COPY rows into a staging table, then add those whose username and email are free.

    In bulk, the secondary indexes (the trigram GIN ones above all) are dropped first and built
    again afterwards in one pass each, inside the same transaction.
    """
    raw = connection.connection.driver_connection
    columns = ", ".join(COLUMNS)
    with raw.cursor() as cursor:
        indexes = []
        if bulk:
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            indexes = cursor.execute(PG_SECONDARY_INDEXES).fetchall()
            for name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("CREATE TEMP TABLE users_seed (LIKE users INCLUDING DEFAULTS)")
        with cursor.copy(f"COPY users_seed ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO users ({columns}) SELECT {columns} FROM users_seed ORDER BY id "
            "ON CONFLICT DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE users_seed")
        for _name, definition in indexes:
            cursor.execute(definition)
        if bulk:
            cursor.execute("ANALYZE users")
    return inserted


def seed_users(count: int, seed: int = 42) -> int:
    """Add `count` demo users after any existing ones; returns how many were inserted."""
    # Numbering after the highest id means adding never repeats an earlier seeded username.
    start = (db.session.scalar(select(func.max(User.id))) or 0) + 1
    rows = generate(start, count, seed)
    connection = db.session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite" and count >= BULK_MIN and count >= start - 1:
        inserted = bulk_insert_sqlite(connection, rows)
    elif dialect == "postgresql":
        inserted = copy_postgresql(connection, rows, bulk=count >= BULK_MIN and count >= start - 1)
    else:
        inserted = insert_rows(connection, rows)
    db.session.commit()
    return inserted
