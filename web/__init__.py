"""The web chat: the page, the widget and the server that renders them (web/server.py)."""
