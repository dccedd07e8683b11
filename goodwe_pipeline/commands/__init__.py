"""Subcommands of ``goodwe-pipeline`` (see ``goodwe_pipeline.cli``)."""
