"""The demo: sample optimiser history, a matching price file, and the processes of ``make demo``.

``history`` writes 30 days of the legacy optimiser's files (every format, a few
broken ones) from a simulated household run by a simulated optimiser
(``optimiser``), ``prices`` the quarter-hour market prices it traded on, and
``processes`` starts and stops ``dagster dev`` for the demo command and the
end-to-end test. No Dagster import here.
"""
