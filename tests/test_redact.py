"""Secrets are never printed: what the redaction keeps (hosts, users, databases) and what it masks."""

import pytest

from kubectl_meshcheck.redact import MASK, is_secret_name, redact, redact_args, redact_env


@pytest.mark.parametrize("text, want", [
    ("postgres://app:hunter2@db.example.com:5432/app", "postgres://app:****@db.example.com:5432/app"),
    ("https://abc123@o1.ingest.sentry.io/42", "https://****@o1.ingest.sentry.io/42"),
    ("mongodb+srv://u:p%40ss@cluster0.x.mongodb.net/db?retryWrites=true",
     "mongodb+srv://u:****@cluster0.x.mongodb.net/db?retryWrites=true"),
    ("https://api.example.com/v1?api_key=sk_live_1&region=eu", "https://api.example.com/v1?api_key=****&region=eu"),
    ("jdbc:sqlserver://h:1433;user=sa;password=Pa55word", "jdbc:sqlserver://h:1433;user=sa;password=****"),
    ("curl -H 'Authorization: Bearer eyJhbGciOi.abc' https://x", None),
    ("auth.example.com:443", "auth.example.com:443"),
    ("redis://cache:6379/0", "redis://cache:6379/0"),
])
def test_redact_masks_credentials_and_keeps_the_rest(text, want):
    out = redact(text)
    if want is not None:
        assert out == want
    for secret in ("hunter2", "abc123", "p%40ss", "sk_live_1", "Pa55word", "eyJhbGciOi.abc"):
        assert secret not in out


def test_secret_env_names_are_masked_whole():
    for name in ("DB_PASSWORD", "api_token", "CLIENT_SECRET", "STRIPE_KEY", "SENTRY_DSN", "AWS_CREDENTIALS"):
        assert is_secret_name(name) and redact_env(name, "value-123") == MASK
    assert not is_secret_name("DATABASE_URL")
    assert redact_env("DATABASE_URL", "postgres://a:b@h/d") == "postgres://a:****@h/d"


def test_flag_values_are_masked_in_args():
    assert redact_args(["--password", "hunter2", "--host", "db", "--token=abc", "-v"]) == \
        ["--password", MASK, "--host", "db", f"--token={MASK}", "-v"]
