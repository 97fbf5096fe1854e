"""``labelops check``: the platform's invariants verified on a deployment (rules: pure;
sources: Kafka and the databases; runner: both together; command: the report)."""
