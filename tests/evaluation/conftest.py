"""Fixtures of the evaluation's tests."""
from __future__ import annotations

import pytest

from tests.evaluation.builders import Evaluations


@pytest.fixture
def ev(world, make, app):
    return Evaluations(world, make, app)
