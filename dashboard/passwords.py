"""Password hashing (argon2id) and the password policy."""

from argon2 import PasswordHasher
from argon2 import exceptions as argon2_errors

MIN_LENGTH = 12
MAX_LENGTH = 128

# OWASP (2025): argon2id, m=19 MiB, t=2, p=1 is the floor; argon2-cffi's defaults
# (m=64 MiB, t=3, p=4, RFC 9106 low-memory profile) are above it.
_hasher = PasswordHasher()

# Checked against on unknown usernames so a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash("dummy password for constant-time misses")

# The most common passwords of at least MIN_LENGTH characters (from public breach lists).
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678910",
        "password1234",
        "password12345",
        "passwordpassword",
        "qwertyuiopasdfgh",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "qwerty123456",
        "abcdefghijkl",
        "111111111111",
        "000000000000",
        "iloveyou1234",
        "adminadmin123",
        "administrator",
        "welcome12345",
        "letmein12345",
        "changeme1234",
        "trustno11234",
        "football1234",
        "baseball1234",
        "princess1234",
        "superman1234",
        "sunshine1234",
        "starwars1234",
        "monkey123456",
        "dragon123456",
        "masterkey123",
        "passw0rd1234",
        "p@ssw0rd1234",
        "qwertyqwerty",
        "asdfghjkl123",
        "zxcvbnm12345",
        "aaaaaaaaaaaa",
        "abc123abc123",
        "correcthorsebatterystaple",
    }
)


def policy_error(password: str) -> str | None:
    """Say what is wrong with a new password, or None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters."
    if password.lower() in COMMON_PASSWORDS:
        return "This password is too common; choose another."
    return None


def hash_password(password: str) -> str:
    """Hash a password with argon2id at the current parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, burn the same time and fail."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (argon2_errors.VerificationError, argon2_errors.InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with outdated parameters."""
    return _hasher.check_needs_rehash(password_hash)
