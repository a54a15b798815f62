"""sharegraph: a GraphQL federation gateway over helpline and 2-1-1 shared data."""

__version__ = "0.1.0"
