"""Cached teacher targets equal a fresh forward pass; distillation never changes the teacher."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from s2kd.data.windows import WindowDataset
from s2kd.losses import semantic_loss, spectral_loss
from s2kd.models import build_model
from s2kd.models.presets import preset_configs
from s2kd.models.spectral import radial_frequency
from s2kd.training.data import TextWindowDataset, make_loaders
from s2kd.training.distill import DistillationLoss, cache_teacher_targets, needed_targets
from s2kd.training.module import ForecastModule
from s2kd.training.trainer import fit
from tests.training.toy import quick_trainer


def _data(n=40):
    rng = np.random.default_rng(0)
    series = rng.standard_normal((n + 6, 1, 8, 12)).astype(np.float32)
    ids = np.arange(n)
    emb = {"sample_id": ids, "tokens": rng.standard_normal((n, 5, 384)).astype(np.float16),
           "mask": np.ones((n, 5), dtype=bool)}
    train = TextWindowDataset(WindowDataset(series, ids[:30], t_in=3, t_out=2, sample_ids=ids[:30]), emb)
    val = TextWindowDataset(WindowDataset(series, ids[30:], t_in=3, t_out=2, sample_ids=ids[30:]), emb)
    return train, val


def _models():
    teacher_cfg, student_cfg = preset_configs("tiny", in_channels=1, t_in=3, t_out=2)
    torch.manual_seed(0)
    return build_model("teacher", teacher_cfg), build_model("simvp", student_cfg), teacher_cfg, student_cfg


def _student_batch():
    """A student's outputs on a batch of 6 training windows, and the teacher's cached targets."""
    train, val = _data()
    teacher, student, tcfg, scfg = _models()
    targets = cache_teacher_targets(teacher, [train, val])
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=6)))
    out = student(batch["x"])
    return student, tcfg, scfg, targets, batch, out, targets.rows(batch["sample_id"])


def test_cached_targets_equal_a_fresh_teacher_forward():
    train, val = _data()
    teacher, *_ = _models()
    targets = cache_teacher_targets(teacher, [train, val], batch_size=7)
    assert targets.sample_id.tolist() == list(range(40))
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=9, shuffle=True,
                                                  generator=torch.Generator().manual_seed(3))))
    with torch.no_grad():
        fresh = teacher(batch["x"], text=batch["text"], text_mask=batch["text_mask"])
    rows = targets.rows(batch["sample_id"])
    torch.testing.assert_close(targets["translator"][rows], fresh["latent"])
    torch.testing.assert_close(targets["semantic"][rows], fresh["z"])
    torch.testing.assert_close(targets["bands"][rows], fresh["z_low"] + fresh["z_high"])
    torch.testing.assert_close(targets["y_hat"][rows], fresh["y_hat"])


def test_only_the_requested_teacher_tensors_are_cached():
    train, val = _data()
    teacher, *_ = _models()
    targets = cache_teacher_targets(teacher, [train, val], fields=("semantic",))
    assert set(targets.fields) == {"semantic"}
    with pytest.raises(KeyError, match="'y_hat' was not cached"):
        targets["y_hat"]
    with pytest.raises(AssertionError, match="unknown teacher target"):
        cache_teacher_targets(teacher, [train], fields=("z_mid",))


def test_needed_targets_follow_the_terms_and_where_they_compare():
    w = {"task": 1.0, "sem": 0.1, "spec": 0.0, "out": 0.0}
    assert needed_targets(w, spectral_on="latent", sem_target="semantic", spec_target="bands") == ("semantic",)
    w = {"task": 1.0, "sem": 0.1, "spec": 1.0}
    assert needed_targets(w, spectral_on="output", sem_target="translator", spec_target="bands") == (
        "translator", "y_hat")
    assert needed_targets(w, spectral_on="latent", sem_target="bands", spec_target="bands") == ("bands",)
    assert needed_targets({"task": 1.0, "out": 10.0}, spectral_on="latent", sem_target="semantic",
                          spec_target="bands") == ("y_hat",)


def test_band_by_band_spectral_loss_equals_the_loss_against_the_sum_of_the_bands():
    """``bands`` = z_low + z_high: each band is exactly band-limited, so comparing the student's low band with
    z_low and its high band with z_high is the spectral loss against their sum."""
    train, val = _data()
    teacher, *_ = _models()
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=6)))
    with torch.no_grad():
        out = teacher(batch["x"], text=batch["text"], text_mask=batch["text_mask"])
    cutoff = teacher.config.cutoff
    p = torch.randn_like(out["z_low"])
    fp = torch.fft.rfft2(p, norm="ortho")
    fl, fh = (torch.fft.rfft2(out[k], norm="ortho") for k in ("z_low", "z_high"))
    h, w = p.shape[-2:]
    low = radial_frequency(h, w) <= cutoff
    by_band = (fp - fl)[..., low].abs().mean() + 2.0 * (fp - fh)[..., ~low].abs().mean()
    together = spectral_loss(p, out["z_low"] + out["z_high"], cutoff=cutoff, w_low=1.0, w_high=2.0)
    torch.testing.assert_close(together, by_band)
    assert fl[..., ~low].abs().max() < 1e-5 and fh[..., low].abs().max() < 1e-5


@pytest.mark.parametrize("target", ["semantic", "bands", "translator"])
def test_latent_terms_read_the_chosen_teacher_latent(target):
    student, tcfg, scfg, targets, batch, out, rows = _student_batch()
    loss = DistillationLoss(weights={"task": 1.0, "sem": 1.0, "spec": 1.0}, targets=targets, student_d=scfg.d,
                            teacher_d=tcfg.d, sem_target=target, spec_target=target, semantic_kind="cosine")
    terms = loss(out, batch)
    with torch.no_grad():
        projected = loss.projector(out["latent"])
    torch.testing.assert_close(terms["loss_sem"], semantic_loss(projected, targets[target][rows], kind="cosine"))
    torch.testing.assert_close(terms["loss_spec"], spectral_loss(projected, targets[target][rows]))


def test_distillation_trains_student_and_projector_but_never_the_teacher(tmp_path):
    train, val = _data()
    teacher, student, tcfg, scfg = _models()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    targets = cache_teacher_targets(teacher, [train, val])
    loss = DistillationLoss(weights={"task": 1.0, "sem": 0.5, "spec": 0.1, "out": 0.2}, targets=targets,
                            student_d=scfg.d, teacher_d=tcfg.d)
    projector_before = [p.clone() for p in loss.projector.parameters()]
    student_before = [p.clone() for p in student.parameters()]
    module = ForecastModule(student, lr=1e-2, max_epochs=1, loss=loss)
    train_loader, val_loader = make_loaders(train, val, batch_size=8, seed=0)
    fit(module, train_loader, val_loader, quick_trainer(tmp_path))
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), f"teacher parameter {k} changed"
    assert not teacher.training and all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(projector_before, loss.projector.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(student_before, student.parameters(), strict=True))
    terms = {k for k in module.last_loss_terms}
    assert {"loss", "loss_task", "loss_sem", "loss_spec", "loss_out"} <= terms


def test_plain_student_needs_no_teacher():
    _, student, _, scfg = _models()
    loss = DistillationLoss(weights={"task": 1.0, "sem": 0.0}, targets=None, student_d=scfg.d, teacher_d=8)
    assert loss.projector is None
    x, y = torch.randn(2, 3, 1, 8, 12), torch.randn(2, 2, 1, 8, 12)
    out = loss(student(x), {"y": y, "sample_id": torch.tensor([0, 1])})
    assert set(out) == {"loss", "loss_task"}
    assert dataclasses.is_dataclass(scfg)


def test_spectral_term_on_outputs_compares_forecasts_and_needs_no_projector():
    student, tcfg, scfg, targets, batch, out, rows = _student_batch()
    on_output = DistillationLoss(weights={"task": 1.0, "spec": 1.0}, targets=targets, student_d=scfg.d,
                                 teacher_d=tcfg.d, cutoff=0.2, alpha=3.0, spectral_on="output")
    assert on_output.projector is None  # nothing to project: forecasts share their shape
    with pytest.raises(AssertionError, match="cached teacher targets"):
        DistillationLoss(weights={"task": 1.0, "spec": 1.0}, targets=None, student_d=scfg.d, teacher_d=tcfg.d,
                         spectral_on="output")
    expected = spectral_loss(out["y_hat"], targets["y_hat"][rows], cutoff=0.2, w_low=1.0, w_high=3.0)
    torch.testing.assert_close(on_output(out, batch)["loss_spec"], expected)
    on_latent = DistillationLoss(weights={"task": 1.0, "spec": 1.0}, targets=targets, student_d=scfg.d,
                                 teacher_d=tcfg.d, cutoff=0.2, alpha=3.0)
    assert on_latent.projector is not None
    assert not torch.allclose(on_latent(out, batch)["loss_spec"], expected)
