import pytest

from qsr_model.config import ModelConfig, TrainConfig


def test_model_config_defaults():
    config = ModelConfig()
    assert (config.hidden_size, config.num_blocks, config.num_heads) == (64, 2, 2)
    assert (config.max_length, config.dropout, config.ffn_hidden_size) == (50, 0.2, 64)


def test_model_config_round_trip():
    config = ModelConfig(hidden_size=32, ffn_size=48)
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_model_config_rejects_unknown_key():
    with pytest.raises(ValueError, match="unknown ModelConfig field.*hiden_size"):
        ModelConfig.from_dict({"hiden_size": 32})


def test_model_config_rejects_heads_not_dividing_hidden():
    with pytest.raises(ValueError, match="hidden_size 10 must be a multiple of num_heads 3"):
        ModelConfig(hidden_size=10, num_heads=3)


def test_train_config_defaults():
    config = TrainConfig()
    assert (config.lr, config.weight_decay, config.batch_size) == (1e-3, 0.0, 128)
    assert (config.loss, config.eval_negatives, config.exclude_history) == ("full", None, False)


def test_train_config_round_trip():
    config = TrainConfig(loss="sampled", num_negatives=2, eval_negatives=100, use_queries=False)
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("field, value, message", [
    ("loss", "bpr", "loss must be one of full, sampled, got 'bpr'"),
    ("num_negatives", 1, "num_negatives must be at least 2"),
    ("rho", 0.5, "rho must be at least 1, got 0.5"),
    ("beta_item", 1.5, r"beta_item must be in \[0, 1\], got 1.5"),
    ("device", "tpu", "device must be one of cpu, cuda"),
    ("patience", -1, "patience must be at least 0"),
])
def test_train_config_rejects_bad_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_train_config_augments_only_with_some_beta():
    assert TrainConfig().augments
    assert not TrainConfig(beta_item=0.0, beta_query=0.0).augments
    assert not TrainConfig(augmentation=False).augments
