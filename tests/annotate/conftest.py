"""Fixtures of the annotate tests: the loopback OpenAI-compatible server."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI


@pytest.fixture()
def server():
    with FakeOpenAI() as fake:
        yield fake
