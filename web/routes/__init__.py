"""The web app's routes, one module per page or API resource (web/app.py mounts them)."""
