"""Judges: one OpenAI-compatible client (cache, retry, bounded concurrency), a local server that
makes any HF causal LM such an endpoint, and the AdvBench safety judges.

The same client talks to GPT-4-class APIs in the paper config and to the embedded model served on
127.0.0.1 in the default config, so the evaluation code has a single path.
"""
