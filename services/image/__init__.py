"""Image: a Glance v2 subset (image records, streamed upload and download)."""
