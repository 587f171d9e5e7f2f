"""mvssl: multi-view self-supervised learning, with views you can design, measure and learn."""
from .encoder import Encoder, load

__version__ = "0.1.0"
__all__ = ["Encoder", "load", "__version__"]
