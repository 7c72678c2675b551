"""What each Azure Functions trigger does (the timer, Key Vault events, the HTTP routes), behind
the thin bindings of ``function_app.py``. May import everything below it and ``faces`` (the page).
"""
