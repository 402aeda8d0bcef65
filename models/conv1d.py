"""A 1-D convolutional classifier of sequences: MNIST read as 28 rows of 28 features each."""
from tinygrad_hw import nn


class Conv1dNet(nn.Module):
    """conv3(c1)-relu, conv3/2(c2)-relu, conv3/2(c2)-relu over the sequence, then one linear layer.

    Each step of the sequence is a feature vector (the channels of the 1-D convolution): an image
    (N, 28, 28) is 28 rows (the length) of 28 pixels (the features). The two stride-2 layers halve
    the length twice (28 -> 14 -> 7), so the classifier sees c2 * ceil(ceil(length/2)/2) values.
    Notation: x (N, length, in_features) or (N, 1, length, in_features) -> logits (N, num_classes).
    """

    def __init__(self, in_features=28, num_classes=10, length=28, channels=(32, 64)):
        super().__init__()
        c1, c2 = channels
        out_len = ((length + 1) // 2 + 1) // 2
        self.features = nn.Sequential(
            nn.Conv1d(in_features, c1, 3, padding=1), nn.ReLU(),
            nn.Conv1d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(c2, c2, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(c2 * out_len, num_classes)

    def forward(self, x):
        if x.ndim == 4:                      # (N, 1, H, W) images as the loaders give them
            x = x.squeeze(1)
        # (N, length, features) -> (N, features, length): the features are conv1d's channels
        return self.classifier(self.flatten(self.features(x.transpose(1, 2))))
