"""`smsproxy bench`: start the stack (or target `--url`), drive simulated bots, report figures.

One module per job: `stack` starts and stops the servers under test, `load` is the bots and the
direct upstream buyers, `idle` the purchases with no load, `hammer` the Python closed-loop
client and `wrk` the C one, `cpu` reads each server process's CPU time, `bare` the reference
endpoint, `figures` turns recordings into numbers, `report` documents the JSON keys and renders
the table, `runner` runs the phases in order, `progress` draws the bar.
"""
