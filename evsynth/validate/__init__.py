"""Input validation: the configuration, the raw tables against their schemas, and the
harmonised tables the analyses read."""
