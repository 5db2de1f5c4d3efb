"""PynamoDB models: the group lock, the audit trail and the remediation lifecycle."""
