"""Configuration: the settings, targets, identities and probe options read from the environment
and ``ROTATOR_CONFIG`` (pure). May import the vocabulary only.

No re-exports: import the module you need (``rotator.config.settings``), so that importing one
room never pays for the others at a Function's cold start.
"""
