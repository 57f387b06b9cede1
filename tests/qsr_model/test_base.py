import pytest
import torch

from qsr_model.base import SequentialRecommender
from qsr_model.batching import make_batch
from qsr_model.config import ModelConfig
from qsr_model.query_seqrec import QuerySeqRec


def test_base_methods_are_abstract():
    model = SequentialRecommender()
    batch = make_batch([[1]], [[0]], [[[]]], max_length=1)
    with pytest.raises(NotImplementedError):
        model(batch)
    with pytest.raises(NotImplementedError):
        model.item_scores(torch.zeros(1, 4))
    with pytest.raises(NotImplementedError):
        model.candidate_scores(torch.zeros(1, 4), torch.zeros(1, 2, dtype=torch.int64))


def test_query_seqrec_is_sequential_recommender():
    model = QuerySeqRec(ModelConfig(hidden_size=4, num_heads=1), num_items=3, num_words=2)
    assert isinstance(model, SequentialRecommender)
