"""Replication into an external SQL database: what one principal may read, kept in sync from the
outbox (``sharegraph replicate``; README, "Replication")."""
