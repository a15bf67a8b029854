"""Evaluators build, open, close and publish surveys, issue invitation codes and follow participation."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("surveys", __name__, url_prefix="/surveys")
