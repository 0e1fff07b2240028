"""Narrators: text about each sample for the privileged teacher.

``registry.NARRATORS`` maps the ``narrate.narrator`` name to a builder; ``base`` holds the
interface, ``diagnostic`` the offline narrator, ``openai_narrator`` any OpenAI-compatible LMM,
``embedding`` the frozen sentence encoder, ``run`` the loop over a sample index.
"""
