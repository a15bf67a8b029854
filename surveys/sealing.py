"""The sealed ballot box: an anonymous survey's key pair, its private half sealed by the box key, and envelopes.

Ballots are sealed to the survey's public key (NaCl sealed boxes), so taking a ballot needs no
secret at all. The private key, which alone opens them, is stored only sealed by the ballot-box
key kept outside the database (BALLOT_KEY or `instance/ballot.key`), and the tally destroys it.
An envelope names the survey and community it was sealed for inside, so one moved elsewhere does
not open. No Flask here.
"""
from __future__ import annotations

import json

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import Aead

#: Envelopes are padded to a multiple of this, so that their size does not tell how long a comment was.
PADDED_TO = 256


class BrokenSeal(Exception):
    """A sealed value did not open: the wrong key, or bytes changed or moved since they were sealed."""


def new_survey_keys(box_key: bytes, survey_id: int) -> tuple[bytes, bytes]:
    """Return a fresh public key for a survey's ballots and its private key sealed by the box key."""
    private = PrivateKey.generate()
    sealed = bytes(Aead(box_key).encrypt(bytes(private), f"survey:{survey_id}".encode()))
    return bytes(private.public_key), sealed


def open_private_key(box_key: bytes, survey_id: int, sealed_private_key: bytes) -> SealedBox:
    """Return what opens the survey's envelopes, from its sealed private key."""
    try:
        private = Aead(box_key).decrypt(sealed_private_key, f"survey:{survey_id}".encode())
    except CryptoError:
        raise BrokenSeal(f"survey {survey_id}: the ballot-box key does not open its private key") from None
    return SealedBox(PrivateKey(private))


def seal_answers(public_key: bytes, survey_id: int, organization_id: int, answers: dict[int, str]) -> bytes:
    """Return a ballot's answers (question id → value or text) sealed to the survey's public key."""
    plain = json.dumps([survey_id, organization_id, sorted(answers.items())], ensure_ascii=False,
                       separators=(",", ":")).encode()
    plain += b" " * (-len(plain) % PADDED_TO)  # JSON reads past trailing spaces
    return SealedBox(PublicKey(public_key)).encrypt(plain)


def open_envelope(opener: SealedBox, survey_id: int, organization_id: int, sealed: bytes) -> dict[int, str]:
    """Return the answers sealed in an envelope of the survey's community."""
    try:
        sealed_for_survey, sealed_for_community, answers = json.loads(opener.decrypt(sealed))
    except (CryptoError, ValueError):
        raise BrokenSeal(f"an envelope of survey {survey_id} does not open") from None
    if (sealed_for_survey, sealed_for_community) != (survey_id, organization_id):
        raise BrokenSeal(f"an envelope of survey {survey_id} was sealed for another survey or community")
    return {int(question_id): value for question_id, value in answers}
