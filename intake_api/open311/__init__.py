"""Open311 GeoReport v2 for the hotline: discovery, services, requests, tokens, updates.

`router` carries the routes under `/discovery.{fmt}` and `/v2/...`; the app mounts it
under `/open311`. Client applications file requests with an api_key made by
`keys.create_api_key`; everything they read is the redacted public view.
"""

from .routes import router

__all__ = ["router"]
