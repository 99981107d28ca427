"""Fixtures of the department services' end-to-end tests (shared with the integration tests)."""

from integration.departments.service_helpers import dev_keys, start_service

__all__ = ["dev_keys", "start_service"]
