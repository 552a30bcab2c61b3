"""Pieces every settings class shares: reading a secret from a value or a mounted file."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from orchestrator.errors import PermanentError


def secret_from(value: SecretStr | None, file: Path | None, *, name: str) -> str | None:
    """The secret's value from the variable itself, else from the file it names (a Secret mount).

    A named file that cannot be read is a configuration error, not "no secret": failing loudly
    keeps a typo from silently switching authentication off.
    """
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if file is None:
        return None
    try:
        text = file.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise PermanentError(f"{name}: cannot read secret file {file}: {e.strerror}") from e
    return text or None
