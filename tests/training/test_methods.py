import pytest

from s2kd.errors import ParameterError
from s2kd.losses import CompositeLoss
from s2kd.training.methods import METHODS, TEACHERS, method_weights


def test_each_method_has_its_loss():
    w = {"beta": 0.5, "lam": 0.1, "gamma": 0.3}
    formulas = {name: CompositeLoss(method_weights(name, **w)).formula() for name in METHODS}
    assert formulas["student"] == "L = L_task"
    assert formulas["output_kd"] == "L = L_task + 0.3·L_out"
    assert formulas["feature_kd"] == "L = L_task + 0.5·L_sem"
    assert formulas["sdkd"] == "L = L_task + 0.1·L_spec"
    assert formulas["s2kd"] == "L = L_task + 0.5·L_sem + 0.1·L_spec"
    assert formulas["s2kd_shuffled_text"] == formulas["s2kd"]
    assert METHODS["feature_kd"].teacher == "vision" and METHODS["s2kd"].teacher == "multimodal"
    assert METHODS["s2kd_shuffled_text"].teacher == "shuffled" and METHODS["student"].teacher is None
    assert all(m.teacher in (*TEACHERS, None) for m in METHODS.values())


@pytest.mark.parametrize(("name", "kw", "pattern"), [
    ("s3kd", {}, r"method: unknown method 's3kd'"),
    ("s2kd", {"beta": -1.0}, r"distill.beta: is -1.0.*>= 0"),
    ("s2kd", {"lam": float("nan")}, r"distill.lambda"),
])
def test_bad_methods_and_weights_are_rejected(name, kw, pattern):
    with pytest.raises(ParameterError, match=pattern):
        method_weights(name, **({"beta": 1.0, "lam": 1.0, "gamma": 1.0} | kw))
