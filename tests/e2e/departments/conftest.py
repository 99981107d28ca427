"""Fixtures of the department services' end-to-end tests (shared with the integration tests)."""

from lifecycle_testing.department_services import dev_keys, start_service

__all__ = ["dev_keys", "start_service"]
