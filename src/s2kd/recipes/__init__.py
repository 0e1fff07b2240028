"""Recipes: what the project trains and scores, from the typed parameters of its pipelines.

``params`` holds the typed ``train_teacher`` and ``distill`` groups; ``jobs`` turns data and those
parameters into one :class:`~s2kd.recipes.jobs.TrainingJob` per model (network from its preset,
windows, loss, checkpoint folder); ``evaluation`` scores a trained model on the test windows. The
layers below stay apart: networks in :mod:`s2kd.models`, the training loop in :mod:`s2kd.training`,
metrics in :mod:`s2kd.metrics`. Library code: no Kedro, no MLflow.
"""
