"""`make bench`: the project's benchmarks. See bench/__main__.py."""
