"""What each Azure Functions trigger does (the timer, Key Vault events by Event Grid or a
Storage queue, the HTTP routes), behind the thin bindings of ``function_app.py``. May import
everything below it and ``faces`` (the page).
"""
