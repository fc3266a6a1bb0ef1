"""Intake and dispatch: the ticket model, the file store, dispatch, workflow, SLA and the HTTP API.

The modules model, store, journal, catalog, dispatch, sla and workflow import no web
framework, so the generator can import them cheaply.
"""
