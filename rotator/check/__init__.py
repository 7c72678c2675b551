"""The preflight (``rotator check``): what would stop a rotation, found before one runs, with the
fix for each finding. May import everything below it, the use cases included.
"""
