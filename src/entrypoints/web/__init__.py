"""The web client: server-rendered pages (Jinja2) and a little vanilla JavaScript, served by Parley itself.
See docs/web.md for sessions, CSRF and the Content-Security-Policy."""
