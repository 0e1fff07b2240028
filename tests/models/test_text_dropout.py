import dataclasses

import torch

from s2kd.models import build_model
from s2kd.models.presets import preset_configs


def _teacher(p):
    cfg, _ = preset_configs("tiny", in_channels=1, t_in=3, t_out=2)
    torch.manual_seed(0)
    return build_model("teacher", dataclasses.replace(cfg, text_dropout=p))


def test_text_dropout_hides_narratives_in_training_only():
    x, text = torch.randn(6, 3, 1, 8, 12), torch.randn(6, 5, 384)
    mask = torch.ones(6, 5, dtype=torch.bool)
    model = _teacher(0.999).train()  # ungated fusion (the default): the text changes the forecast from init
    torch.manual_seed(1)
    hidden = model(x, text, mask)["y_hat"]
    without = model(x, text, torch.zeros_like(mask))["y_hat"]
    torch.testing.assert_close(hidden, without)  # every narrative hidden: only the null token is seen
    model.eval()
    seen = model(x, text, mask)["y_hat"]
    assert (seen - model(x, text, torch.zeros_like(mask))["y_hat"]).abs().max() > 1e-4  # evaluation reads the text
    reference = _teacher(0.0).eval()
    reference.load_state_dict(model.state_dict())
    torch.testing.assert_close(seen, reference(x, text, mask)["y_hat"])  # same weights, no effect outside training
