"""State: what rotator remembers between runs (records, their codec) and the two stores that keep
it with leases (a local directory, a blob container). May import the vocabulary only.
"""
