"""The static-site generator: load -> redact -> aggregate -> render -> publish."""
