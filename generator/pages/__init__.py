"""Page renderers: one module per page type; each returns Output objects."""
