"""Campaign statistics, comparison and report: read a campaign's SQLite database only (the
flying is ``app.campaign``'s job)."""
