"""labelgate: a data-quality gate for BERT-style classifiers fine-tuned on LLM-produced labels."""

__version__ = "0.1.0"
