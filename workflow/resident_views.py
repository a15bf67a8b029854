"""Residents' screens: file a request, my requests, tracking by code, answers and feedback."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("requests", __name__)
