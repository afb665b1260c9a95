"""Shared code of the ginr apps (configuration, checkpoints, evaluation, reports); not a published package."""
