"""qsr_model: the Query-SeqRec Transformer, its training and evaluation.

Modules: ``config`` (ModelConfig, TrainConfig), ``batching`` (left-padded
SequenceBatch, windows, make_batch), ``base`` (the SequentialRecommender
interface), ``query_seqrec`` (the model), ``losses``, ``metrics``,
``evaluate``, ``trainer`` (train_model) and ``checkpoint`` (run folders,
load_run).
"""
