"""`nst serve`: a local web page for every engine (Starlette app, job worker, static page)."""
