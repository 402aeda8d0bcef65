"""Checkpoints: save/load nested state dicts as .npz (placeholder)."""


def save(obj, path):
    raise NotImplementedError


def load(path):
    raise NotImplementedError
