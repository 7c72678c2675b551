"""The steps of one rotation, one module each: plan, package, probe, apply, verify, record, with
the lease around them and what every step is given (``context``). May import the vocabulary,
``config`` and ``state``; all but ``probe`` are pure.
"""
