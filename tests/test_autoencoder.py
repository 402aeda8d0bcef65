"""The convolutional autoencoder (Conv2d down, Upsample up, MSE) learns MNIST reconstructions."""
import numpy as np
import pytest

import tinygrad_hw as thw
from tinygrad_hw import reconstruct
from tinygrad_hw.data import MNIST
from tinygrad_hw.models import ConvAutoencoder

# Predicting the mean training image gives a test MSE of about 0.065 per pixel.
MEAN_IMAGE_MSE = 0.065


def test_shapes_and_range():
    y = ConvAutoencoder()(thw.rand(2, 1, 28, 28))
    assert y.shape == (2, 1, 28, 28)
    v = y.numpy()
    assert v.min() > 0 and v.max() < 1


def test_reconstruction_error_falls_on_a_small_slice():
    # measured: 0.027 after two epochs of 1,500 images (0.050 after one)
    _, _, history = reconstruct.train(epochs=2, train_size=1500, test_size=500, log=lambda s: None)
    assert history[1] < history[0]
    assert history[-1] < 0.035 < MEAN_IMAGE_MSE


def test_figure_is_written(tmp_path):
    model = ConvAutoencoder()
    loader = thw.data.DataLoader(thw.data.subset(MNIST(train=False), 20), 10)
    path = reconstruct.draw(model, loader, tmp_path / "recon.png", n=5)
    assert path.stat().st_size > 1000


@pytest.mark.slow
def test_full_run_reconstructs_well(tmp_path):
    history = reconstruct.main(["--epochs", "3", "--figure", str(tmp_path / "recon.png")])
    assert history[-1] < 0.005      # measured: 0.0041, 0.0032, 0.0028 after epochs 1-3
