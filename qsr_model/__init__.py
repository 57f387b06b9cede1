"""qsr_model: the Query-SeqRec Transformer, its training and evaluation."""
