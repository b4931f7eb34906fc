"""The lake: where every table lives and the Delta helpers engines share.

``weir.lake.paths`` names every table once (pure); ``weir.lake.delta`` reads and writes through Spark;
``weir.lake.delta_log`` reads a table's log without Spark (delta-rs). Import the module you need: this package
imports nothing.
"""
