"""The live path: one poll tick, the inverter client, the spool that keeps readings the store could not take."""
