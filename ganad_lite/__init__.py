"""ganad_lite: GAN-based image anomaly detection (WGAN-GP + encoder), small enough to read."""
from .config import TrainConfig
from .detector import GANAD
from .device import hardware_info, pick_device
from .profiles import PROFILES, Profile, get_profile
from .scoring import Scores, Standardizer, score_images

__version__ = "0.1.0"
__all__ = ["GANAD", "TrainConfig", "Scores", "Standardizer", "score_images", "Profile", "PROFILES", "get_profile",
           "pick_device", "hardware_info", "__version__"]
