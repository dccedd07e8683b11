"""What each day produced, used and saved, trends over weeks, and the quality rules for readings."""
