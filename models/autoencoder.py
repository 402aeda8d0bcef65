"""A convolutional autoencoder for 28x28 images: strided convolutions down, upsampling up."""
from tinygrad_hw import nn


class ConvAutoencoder(nn.Module):
    """conv3 s2 (width) - relu - conv3 s2 (code) - relu, then twice upsample x2 - conv3, to a sigmoid.

    Notation: x (N, C, H, W) in [0, 1], H and W divisible by 4 -> code (N, code, H/4, W/4) ->
    reconstruction (N, C, H, W) in (0, 1). Trained with an MSE loss against its input.
    """

    def __init__(self, in_channels=1, width=16, code=8):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, code, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(code, width, 3, padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(width, in_channels, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))
