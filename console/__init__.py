"""Web pages for people (the provider portal, sign-in, the console), served by the same app.

Above ``web/``: pages run the one authentication step's sessions and post GraphQL documents
(``pages/*.graphql``) to the app's own ``/graphql`` as the person signed in; they never read the
database (``lint-imports`` holds them to it).
"""
