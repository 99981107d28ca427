"""What every service shares: JSON logs with personal data masked, RFC 9457 problem details, the
every-service metrics and the HTTP plumbing that uses them (a library, never run)."""
