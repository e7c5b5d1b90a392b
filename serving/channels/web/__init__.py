"""The patient web chat's channel: pushes to open pages (server-sent events)."""
