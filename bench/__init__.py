"""``python -m bench``: the performance benchmarks (issue 7), measured against a loopback upstream.

Every benchmark compares two things measured side by side in the same run and reports the ratio;
absolute times are context only. Nothing here is a test: the smoke test checks the harness and the
counts, never the speed.
"""
