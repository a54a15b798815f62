"""Queries over the datastore. Every function takes the request's access plan."""
