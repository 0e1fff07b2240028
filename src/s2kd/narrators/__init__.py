"""Narrators: text about each sample for the privileged teacher.

- ``registry.NARRATORS`` maps the ``narrate.narrator`` name to a builder; ``params`` holds the typed
  ``narrate`` parameters; ``base`` the interface (samples, narratives, modes); ``run`` the loop
  over a sample index.
- The offline ``diagnostic`` narrator (``diagnostic``) measures and describes each grid kind in its
  own module: ``latlon``, ``flows``, ``radar``, with ``events`` (recorded events), ``calendar``,
  ``geometry`` (regions, phase correlation, motion: the shared maths), ``regions`` (region names)
  and ``text`` (clauses, token budget).
- The ``openai`` narrator (``openai_narrator``) asks any OpenAI-compatible LMM, with ``prompt``
  (templates, metadata text), ``render`` (PNGs), ``cache`` (answers on disk), ``ratelimit``,
  ``endpoint_errors`` (what is retried) and ``scrubber`` (no key in the logs).
- ``embedding``: the frozen sentence encoder's token embeddings.
"""
