"""Registering users' own classifiers (`convlens-models add/list/remove`): checks, the registry, the command line."""
