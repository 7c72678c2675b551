"""The clients of Microsoft Graph, Key Vault and Entra ID, the parsing of their answers, and the
wiring that builds a run's clients from the settings. May import the vocabulary, ``config``,
``state`` and ``steps``.
"""
