"""Residents answer surveys: by account or with an invitation code, exactly once."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ballots", __name__)
