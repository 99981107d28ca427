"""Fixtures of the department services' integration tests: dev keys, services as processes."""

from integration.departments.service_helpers import dev_keys, start_service

__all__ = ["dev_keys", "start_service"]
