"""Credentials: loading from the environment / .env, masking, log and exception redaction."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from fxconsole.brokers.credentials import (
    Credentials,
    CredentialsError,
    RedactingFilter,
    install_log_redaction,
    load_credentials,
    mask_account,
    redact,
)

TOKEN = "0123456789abcdef0123456789abcdef-fedcba9876543210fedcba9876543210"
ACCOUNT = "101-004-1111111-001"


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"OANDA_TOKEN=file-token-xyz\nOANDA_ACCOUNT={ACCOUNT}\n")
    creds = load_credentials(tmp_path, {"OANDA_TOKEN": TOKEN})
    assert creds.token == TOKEN and creds.account == ACCOUNT


def test_dotenv_quotes_comments_and_export(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# OANDA practice\n\nexport OANDA_TOKEN=\"" + TOKEN + "\"\n"
        "OANDA_ACCOUNT='" + ACCOUNT + "'  \nOTHER=1 # trailing comment\nnot a pair\n")
    creds = load_credentials(tmp_path, {})
    assert creds == Credentials(TOKEN, ACCOUNT)


def test_unquoted_value_with_trailing_comment(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"OANDA_TOKEN={TOKEN} # practice token\n"
                                   f"OANDA_ACCOUNT={ACCOUNT}\n")
    assert load_credentials(tmp_path, {}).token == TOKEN


@pytest.mark.parametrize(("env", "missing"), [
    ({}, "OANDA_TOKEN and OANDA_ACCOUNT"),
    ({"OANDA_TOKEN": TOKEN}, "OANDA_ACCOUNT"),
    ({"OANDA_ACCOUNT": ACCOUNT, "OANDA_TOKEN": "  "}, "OANDA_TOKEN"),
])
def test_missing_variables_are_named_never_valued(tmp_path: Path, env: dict[str, str],
                                                  missing: str) -> None:
    with pytest.raises(CredentialsError) as info:
        load_credentials(tmp_path, env)
    message = str(info.value)
    assert f"{missing} not set" in message and str(tmp_path / ".env") in message
    assert TOKEN not in message and ACCOUNT not in message


def test_repr_and_str_never_show_the_secrets() -> None:
    creds = Credentials(TOKEN, ACCOUNT)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})):
        assert TOKEN not in text and ACCOUNT not in text and "1111111" not in text
    assert repr(creds) == "Credentials(token=***, account=***-001)"
    assert mask_account("abc") == "***"
    with pytest.raises(TypeError):
        pickle.dumps(creds)


def test_redact_scrubs_token_and_account() -> None:
    creds = Credentials(TOKEN, ACCOUNT)
    url = f"https://api/v3/accounts/{ACCOUNT}/orders Bearer {TOKEN}"
    out = redact(url, creds)
    assert TOKEN not in out and ACCOUNT not in out and "***-001/orders" in out
    assert redact("plain text", creds) == "plain text"


def test_log_records_are_scrubbed_message_args_and_exceptions(
        caplog: pytest.LogCaptureFixture) -> None:
    creds = Credentials("tok-" + "9" * 40, "101-004-2222222-001")
    install_log_redaction(creds)
    log = logging.getLogger("some.third.party")
    caplog.set_level(logging.DEBUG)
    log.debug("GET /v3/accounts/%s/summary", creds.account)
    log.info("headers %r", {"Authorization": f"Bearer {creds.token}"})
    log.warning(f"inline {creds.account}")
    log.info("%(acct)s via mapping", {"acct": creds.account})
    try:
        raise RuntimeError(f"failed for {creds.account} with {creds.token}")
    except RuntimeError:
        log.exception("boom")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert creds.token not in text and creds.account not in text
    assert "***-001" in text and "Bearer ***" in text


def test_filter_on_a_handler_scrubs_records_made_elsewhere() -> None:
    creds = Credentials("tok-" + "7" * 40, "101-004-3333333-001")
    install_log_redaction(creds)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "url %s", (creds.account,), None)
    record.msg, record.args = "url %s", (creds.account,)  # as if made before the factory
    assert RedactingFilter().filter(record)
    assert creds.account not in record.getMessage()
