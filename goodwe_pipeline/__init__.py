"""goodwe_pipeline: the long-term memory of a GoodWe solar + battery system."""

__version__ = "0.1.0"
