"""Stage `train`: fine-tune a Hugging Face encoder for sequence classification on one subset and one seed.

`data` reads and encodes the tables and batches the tokens, `device` picks device, precision, threads and seeds,
`loop` loads, fine-tunes and predicts, `run` holds the stage's params and runs and saves one run. Import from the
module that owns a name; torch and transformers import lazily, inside functions.
"""
