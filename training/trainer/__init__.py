"""The training package behind ``python -m training.train``: config (file + overrides), batches
(split, balanced sampling, augmentation), loop (training, validation, checkpoints), artifacts."""
