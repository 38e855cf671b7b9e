"""The operator's tools: the log file view, backups and restores, per-user exports."""
