"""Battery charge and discharge sessions found in the readings."""
