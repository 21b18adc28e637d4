"""Volume: a Cinder v3 subset (volumes as files, the attachments API, quotas)."""
