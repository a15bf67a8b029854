"""Keys outside the database: given by the environment, or made once, private to the app's user, and reused."""
from __future__ import annotations

import base64
import stat
import threading

import pytest

import keys


def test_a_missing_key_is_made_once_with_mode_0600_and_then_reused(tmp_path):
    first = keys.instance_key(tmp_path, "ballot", None)
    path = tmp_path / "ballot.key"
    assert len(first) == keys.KEY_BYTES and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.instance_key(tmp_path, "ballot", None) == first
    assert [p.name for p in tmp_path.iterdir()] == ["ballot.key"]


def test_workers_starting_at_once_agree_on_one_key(tmp_path):
    found = []
    threads = [threading.Thread(target=lambda: found.append(keys.instance_key(tmp_path, "ballot", None)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found) == 8


def test_a_key_given_by_the_environment_wins_and_a_malformed_one_is_refused(tmp_path):
    given = base64.urlsafe_b64encode(bytes(range(32))).decode()
    assert keys.instance_key(tmp_path, "ballot", given) == bytes(range(32))
    assert not (tmp_path / "ballot.key").exists()
    for bad in ("short", base64.urlsafe_b64encode(b"x" * 16).decode(), "!!!!"):
        with pytest.raises(RuntimeError, match="BALLOT_KEY must be 32 random bytes"):
            keys.instance_key(tmp_path, "ballot", bad)
