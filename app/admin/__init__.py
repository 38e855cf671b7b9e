"""Administration: settings, the audit log, analytics and charts, server info and background runs."""
