"""Neural-network layers, functional ops and initialisers."""
from . import functional
