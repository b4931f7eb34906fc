"""The one aggregation core: window arithmetic, tile IR, Spark expressions and a pure-Python mirror.

``weir.compute.windows``, ``weir.compute.ir`` and ``weir.compute.py_agg`` are pure Python;
``weir.compute.spark_agg`` imports pyspark (import it explicitly).
"""
