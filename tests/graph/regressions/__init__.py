"""Regression tests found by the graph-mode fuzzer (``make fuzz``), one module per bug.

Each module holds a shrunk program and a test that checks it against eager execution in
every graph mode with ``rillet.testing.fuzz.check_function``.
"""
