"""Evaluation of trained models: one module per benchmark family.

``translation`` scores MT outputs (sacreBLEU BLEU/chrF and COMET) for Tables 1-2; the general-ability
benchmarks of Table 3 live beside it. Each module returns plain dicts that the rules write as one
JSON file per table cell, so a metric can be recomputed without touching generation.
"""
