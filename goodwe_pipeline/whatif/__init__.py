"""What-if on the owner's measured history: which tariff, and what the battery is worth.

``catalogue`` (the offers), ``quarter_hours`` (each day's measured energies per quarter
hour), ``battery`` (limits learned from the owner's sessions), ``dispatch`` (the battery
run best, as a linear programme), ``costs`` (the three cases priced per offer) and
``advice`` (30/90/365-day summary). Pure domain code: no Dagster, no I/O.
"""
