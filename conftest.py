collect_ignore = ["convtool/__main__.py", "tests/golden", "benchmarks"]
