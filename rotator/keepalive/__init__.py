"""Keep-alive: renewing rotator's own Graph credential (the application's certificate). May import
the vocabulary, ``config``, ``state``, ``steps`` and ``azure``.
"""
