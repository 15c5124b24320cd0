"""Settings shared by the test apps and the processes the tests start."""
from __future__ import annotations

TEST_SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef0123456789abcdef"
