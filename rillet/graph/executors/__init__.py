"""Executors run a graph: the interpreter walks it node by node; the compiled executor
lowers it to a straight-line program."""
