"""What a person runs and reads: the CLI, its text and HTML renderings, the status page, the demo
and the local server. May import everything except ``functions``.
"""
