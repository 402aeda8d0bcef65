"""Train the convolutional autoencoder on MNIST: ``python -m tinygrad_hw.reconstruct``.

Prints the mean squared reconstruction error on the test set after each epoch and, with
``--figure PATH``, draws test digits above their reconstructions.
"""
import argparse
import time

import numpy as np

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import optim
from tinygrad_hw.data import MNIST, DataLoader, subset
from tinygrad_hw.models import ConvAutoencoder


def test_mse(model, loader):
    """Mean squared error per pixel over the whole loader."""
    model.eval()
    total, count = 0.0, 0
    with thw.no_grad():
        for x, _ in loader:
            total += F.mse_loss(model(x), x, reduction="sum").item()
            count += x.numel()
    model.train()
    return total / count


def train(epochs=3, batch_size=64, lr=2e-3, train_size=None, test_size=None, device="cpu", seed=0, log=print):
    """Train on MNIST (images in [0, 1]); returns (model, test loader, list of test MSEs per epoch)."""
    thw.manual_seed(seed)
    train_set, test_set = subset(MNIST(train=True), train_size), subset(MNIST(train=False), test_size)
    train_loader = DataLoader(train_set, batch_size, shuffle=True, seed=seed, device=device)
    test_loader = DataLoader(test_set, 500, device=device)
    model = ConvAutoencoder().to(device)
    opt = optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        start = time.perf_counter()
        for x, _ in train_loader:
            opt.zero_grad()
            loss = F.mse_loss(model(x), x)
            loss.backward()
            opt.step()
        history.append(test_mse(model, test_loader))
        log(f"epoch {epoch + 1}: train loss {loss.item():.4f}, test MSE {history[-1]:.4f} "
            f"({time.perf_counter() - start:.1f} s)")
    return model, test_loader, history


def draw(model, loader, path, n=10):
    """Save a figure of ``n`` test images (top row) and their reconstructions (bottom row)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, _ = next(iter(loader))
    x = x[:n]
    with thw.no_grad():
        model.eval()
        y = model(x)
    fig, axes = plt.subplots(2, n, figsize=(n, 2.2))
    for i in range(n):
        for row, img in enumerate((x, y)):
            axes[row, i].imshow(img[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[row, i].axis("off")
    axes[0, 0].set_title("input", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="write test digits and reconstructions to this PNG")
    args = p.parse_args(argv)
    thw.keep_host_memory()
    model, test_loader, history = train(args.epochs, args.batch_size, args.lr, args.train_size,
                                        device=args.device, seed=args.seed)
    print(f"test MSE {history[-1]:.4f}")
    if args.figure:
        print(f"wrote {draw(model, test_loader, args.figure)}")
    return np.asarray(history)


if __name__ == "__main__":
    main()
