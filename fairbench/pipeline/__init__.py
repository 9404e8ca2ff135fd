"""One small pipeline function per mode over shared steps (:mod:`.inputs`), assembling a
record and tables (:class:`~.parts.RunParts`) that one seal (:mod:`.seal`) writes.

``fairbench.run`` and ``fairbench.evaluate`` call these; nothing here is a public API.
"""
