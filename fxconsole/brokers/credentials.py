"""OANDA credentials, and keeping them out of logs, reprs and exception messages.

The token and the account id come from the environment (``OANDA_TOKEN``,
``OANDA_ACCOUNT``), else from ``<workspace>/.env``. Neither is ever shown: the
:class:`Credentials` repr masks them, :func:`redact` scrubs them from any text, and
:func:`install_log_redaction` makes every log record of the process scrubbed — whoever
logs it (us, oandapyV20, urllib3, requests) and whichever handler writes it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

TOKEN_VAR = "OANDA_TOKEN"
ACCOUNT_VAR = "OANDA_ACCOUNT"
MASK = "***"
MIN_SECRET = 6  # shorter strings are not scrubbed (they would mask ordinary text)
# Loggers that see request URLs (with the account id) or headers; each gets the filter too.
NOISY_LOGGERS = ("oandapyV20", "oandapyV20.oandapyV20", "urllib3", "urllib3.connectionpool",
                 "requests", "fxconsole.brokers", "fxconsole.live")


class CredentialsError(ValueError):
    """A credential is missing or malformed; the message names the variable, never a value."""


class Credentials:
    """An OANDA API token and account id. ``repr``/``str`` never show either."""

    __slots__ = ("account", "token")

    def __init__(self, token: str, account: str) -> None:
        self.token = token
        self.account = account

    def __repr__(self) -> str:
        return f"Credentials(token={MASK}, account={mask_account(self.account)})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Credentials) and other.token == self.token
                and other.account == self.account)

    def __hash__(self) -> int:
        return hash((self.token, self.account))

    def __reduce__(self) -> Any:  # pickling would write the secrets out: refuse
        raise TypeError("Credentials are not picklable")

    def secrets(self) -> tuple[str, ...]:
        """The strings to scrub from any output (empty ones left out)."""
        return tuple(s for s in (self.token, self.account) if len(s) >= MIN_SECRET)


def mask_account(account: str) -> str:
    """``101-004-1234567-001`` → ``***-001`` (at most the last 3 characters shown)."""
    if len(account) < 8:
        return MASK
    tail = account[-3:]
    sep = account[-4] if not account[-4].isalnum() else ""
    return f"{MASK}{sep}{tail}"


def _parse_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``export`` prefix, quotes, blank and ``#`` comment lines allowed."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        text = line.strip()
        if not text or text.startswith("#") or "=" not in text:
            continue
        key, _, value = text.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:  # unquoted value with a trailing comment
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def load_credentials(workspace_root: Path, environ: Mapping[str, str] | None = None
                     ) -> Credentials:
    """Read ``OANDA_TOKEN`` and ``OANDA_ACCOUNT``: the environment first, then ``.env``.

    Args:
        workspace_root: the workspace; its ``.env`` file is read if a variable is not set.
        environ: the environment (default ``os.environ``).

    Returns:
        The credentials (registered for log redaction).

    Raises:
        CredentialsError: a variable is missing or empty; the message names it and where
            it was looked for, never a value.
    """
    env = os.environ if environ is None else environ
    dotenv = Path(workspace_root) / ".env"
    file_values: dict[str, str] = {}
    if dotenv.is_file():
        try:
            file_values = _parse_dotenv(dotenv)
        except OSError as exc:
            raise CredentialsError(f"{dotenv}: cannot read ({exc.strerror})") from None
    found: dict[str, str] = {}
    missing: list[str] = []
    for var in (TOKEN_VAR, ACCOUNT_VAR):
        value = (env.get(var) or "").strip() or file_values.get(var, "").strip()
        if value:
            found[var] = value
        else:
            missing.append(var)
    if missing:
        names = " and ".join(missing)
        raise CredentialsError(
            f"OANDA credentials: {names} not set; set {'them' if len(missing) > 1 else 'it'} "
            f"in the environment or in {dotenv} (one KEY=VALUE per line)"
        )
    creds = Credentials(found[TOKEN_VAR], found[ACCOUNT_VAR])
    register_secrets(creds)
    return creds


# --- redaction ------------------------------------------------------------------------

_lock = threading.RLock()
_secrets: dict[str, str] = {}  # secret → replacement
_factory_installed = False


def _replacement(secret: str, creds: Credentials | None) -> str:
    if creds is not None and secret == creds.account:
        return mask_account(secret)
    return MASK


def register_secrets(creds: Credentials) -> None:
    """Scrub these credentials from every log record of this process from now on."""
    with _lock:
        for secret in creds.secrets():
            _secrets[secret] = _replacement(secret, creds)


def redact(text: str, creds: Credentials | Iterable[str] | None = None) -> str:
    """``text`` with the token and the account id (and every registered secret) masked.

    Args:
        text: any text (a URL, a message, an exception string).
        creds: credentials or extra secret strings to scrub besides the registered ones.
    """
    with _lock:
        pairs = dict(_secrets)
    if isinstance(creds, Credentials):
        pairs.update({s: _replacement(s, creds) for s in creds.secrets()})
    elif creds is not None:
        pairs.update({s: MASK for s in creds if len(s) >= MIN_SECRET})
    for secret in sorted(pairs, key=len, reverse=True):  # longest first: no partial leftovers
        if secret in text:
            text = text.replace(secret, pairs[secret])
    return text


def _scrub_value(value: Any) -> Any:
    """An argument with secrets in its text replaced by the redacted text; else itself."""
    if value is None or isinstance(value, int | float):
        return value
    try:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) \
            else str(value)
    except Exception:  # an object whose __str__ fails: logging will report it
        return value
    cleaned = redact(text)
    return cleaned if cleaned != text else value


def scrub_record(record: logging.LogRecord) -> None:
    """Redact a log record in place: its message with args, any exception and stack text.

    If the formatted message holds a secret, ``msg`` becomes the redacted message and
    ``args`` empty; if it cannot be formatted, ``msg`` and each arg are scrubbed apart.
    """
    if not _secrets:
        return
    try:
        message: str | None = record.getMessage()
    except Exception:  # bad format / args: logging reports it later, with the args
        message = None
    if message is None:
        record.msg = redact(str(record.msg))
        if isinstance(record.args, Mapping):
            record.args = {k: _scrub_value(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_scrub_value(v) for v in record.args)
    else:
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A filter that scrubs every registered secret from a record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; always keep it."""
        scrub_record(record)
        return True


_FILTER = RedactingFilter()


def install_log_redaction(creds: Credentials | None = None) -> None:
    """Make every log record of this process scrubbed of the registered secrets.

    Registers ``creds``; wraps the log record factory (so records of every logger are
    scrubbed when created, before any handler or filter sees them) and adds
    :class:`RedactingFilter` to the root logger's handlers and to the loggers that log
    URLs (oandapyV20, urllib3, requests) as a second line. Idempotent.
    """
    global _factory_installed
    if creds is not None:
        register_secrets(creds)
    with _lock:
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                scrub_record(record)
                return record

            logging.setLogRecordFactory(factory)
            _factory_installed = True
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
