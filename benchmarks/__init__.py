"""Benchmarks of the Wide & Deep course (issue #6): ``python -m benchmarks.run``.

Not a lesson: a maintainers' tool. It times the course (notebooks, training,
recommendation), tabulates model quality over seeds, trains a faithful Sparrow
RecSys Wide&Deep baseline side by side, and demonstrates a streaming path for
MovieLens 25M/32M. See ``benchmarks/README.md``.
"""
