"""Keys kept outside the database: given by the environment, or made once into the instance folder."""
from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from flask import Flask

KEY_BYTES = 32
#: Shorter keys are refused: the key is all that stands between an outsider and a forged CSRF token.
MIN_SECRET_KEY_LENGTH = 32


def decode_key(text: str, name: str) -> bytes:
    """Return the 32 bytes a urlsafe-base64 key stands for, or refuse a malformed one."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        make_one = "python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
        raise RuntimeError(f"{name} must be {KEY_BYTES} random bytes in urlsafe base64 ({make_one}).")
    return key


def instance_key(folder: str | Path, name: str, given: str | None) -> bytes:
    """Return the key given, else the one in `folder/name.key`, made (mode 0600) on first use.

    Made by writing a temporary file and linking it into place, so that workers starting at once
    agree on one key: the link fails for all but the first, which then read the first one's key.
    """
    if given:
        return decode_key(given, f"{name.upper()}_KEY")
    path = Path(folder) / f"{name}.key"
    if not path.exists():
        Path(folder).mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return decode_key(path.read_text(), str(path))


def init_app(app: Flask) -> None:
    """Settle the app's keys: the session key, the invitation codes', the ballot box's and the device cookies'."""
    folder = app.instance_path
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = base64.urlsafe_b64encode(instance_key(folder, "secret", None)).decode()
    if len(app.config["SECRET_KEY"]) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters; leave it unset to have "
                           "one made into the instance folder.")
    app.config["CODE_HASH_KEY"] = instance_key(folder, "code", app.config.get("CODE_KEY"))
    app.config["BALLOT_BOX_KEY"] = instance_key(folder, "ballot", app.config.get("BALLOT_KEY"))
    app.config["DEVICE_COOKIE_KEY"] = instance_key(folder, "device", app.config.get("DEVICE_KEY"))
