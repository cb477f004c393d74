"""The exit-code contract between workers and the supervisor (after BSD's ``sysexits.h``).

A worker that cannot do anything useful until an operator acts — its configuration is
wrong, a checkpoint does not fit the configuration, the broker refused its credentials —
exits with a dedicated code, and the supervisor makes it FATAL at once instead of
restarting it in a loop (which, for a refused OANDA token, would hit the broker each time).
Every other failure exits 1 and falls under the crash policy (``supervisor.crash_limit``).
"""

from __future__ import annotations

from fxconsole.agents.manifest import CheckpointError
from fxconsole.brokers.base import AuthError
from fxconsole.brokers.credentials import CredentialsError
from fxconsole.config import ConfigError

EX_OK = 0
EX_FAILURE = 1  # anything else: restarted under the crash policy
EX_NOPERM = 77  # sysexits: credentials missing or refused (OANDA 401/403, no token)
EX_CONFIG = 78  # sysexits: configuration error (fxconsole.toml, checkpoint vs. config)

# What the supervisor never restarts on its own, and what each code means.
FATAL_EXIT_CODES: dict[int, str] = {
    EX_CONFIG: "configuration error",
    EX_NOPERM: "credentials missing or refused",
}


def exit_code_for(exc: BaseException) -> int:
    """The exit code a worker ends with after ``exc`` escaped its loop.

    Args:
        exc: the exception.

    Returns:
        :data:`EX_CONFIG` for a :class:`~fxconsole.config.ConfigError` or a checkpoint that
        cannot be used with the configuration; :data:`EX_NOPERM` for missing or refused
        credentials; :data:`EX_FAILURE` otherwise.
    """
    if isinstance(exc, AuthError | CredentialsError):
        return EX_NOPERM
    if isinstance(exc, ConfigError | CheckpointError):
        return EX_CONFIG
    return EX_FAILURE
